package iamcheck

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// rpcRule is what one RPC needs: permissions on the resource named by a
// field of its request.
type rpcRule struct {
	field string
	perms []string
	// overrides names a request field that, when set, needs one more
	// permission (RunJob's overrides need run.jobs.runWithOverrides).
	overrides, overridePerm string
}

// rules per gRPC method, from each method's "Authorization requires the
// following IAM permission" in the API reference (Pub/Sub v1, Cloud Run
// Admin v2). Methods not listed are not checked.
var rules = map[string]rpcRule{
	"/google.pubsub.v1.Publisher/Publish":             {field: "topic", perms: []string{"pubsub.topics.publish"}},
	"/google.pubsub.v1.Publisher/GetTopic":            {field: "topic", perms: []string{"pubsub.topics.get"}},
	"/google.pubsub.v1.Subscriber/GetSubscription":    {field: "subscription", perms: []string{"pubsub.subscriptions.get"}},
	"/google.pubsub.v1.Subscriber/Pull":               {field: "subscription", perms: []string{"pubsub.subscriptions.consume"}},
	"/google.pubsub.v1.Subscriber/StreamingPull":      {field: "subscription", perms: []string{"pubsub.subscriptions.consume"}},
	"/google.pubsub.v1.Subscriber/Acknowledge":        {field: "subscription", perms: []string{"pubsub.subscriptions.consume"}},
	"/google.pubsub.v1.Subscriber/ModifyAckDeadline":  {field: "subscription", perms: []string{"pubsub.subscriptions.consume"}},
	"/google.cloud.run.v2.Jobs/RunJob":                {field: "name", perms: []string{"run.jobs.run"}, overrides: "overrides", overridePerm: "run.jobs.runWithOverrides"},
	"/google.cloud.run.v2.Jobs/GetJob":                {field: "name", perms: []string{"run.jobs.get"}},
	"/google.cloud.run.v2.Jobs/ListJobs":              {field: "parent", perms: []string{"run.jobs.list"}},
	"/google.cloud.run.v2.Executions/GetExecution":    {field: "name", perms: []string{"run.executions.get"}},
	"/google.cloud.run.v2.Executions/ListExecutions":  {field: "parent", perms: []string{"run.executions.list"}},
	"/google.cloud.run.v2.Executions/CancelExecution": {field: "name", perms: []string{"run.executions.cancel"}},
	"/google.cloud.run.v2.Executions/DeleteExecution": {field: "name", perms: []string{"run.executions.delete"}},
}

// UnaryInterceptor checks each unary Pub/Sub and Cloud Run call a client
// makes as principal against policy. Install it on the client's
// connection (grpc.WithUnaryInterceptor). A denied call fails with
// PermissionDenied worded as the service words it: Cloud Run names the
// permission and the resource; Pub/Sub says only "User not authorized to
// perform this action." (shared/queue adds which permission the call
// needs).
func UnaryInterceptor(policy *Policy, principal string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if err := authorize(policy, principal, method, req); err != nil {
			return err
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// StreamInterceptor checks the opening of streaming calls (StreamingPull)
// by the first request sent on them.
func StreamInterceptor(policy *Policy, principal string) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		s, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, err
		}
		return &checkedStream{ClientStream: s, check: func(m any) error { return authorize(policy, principal, method, m) }}, nil
	}
}

type checkedStream struct {
	grpc.ClientStream
	check   func(any) error
	checked bool
}

func (s *checkedStream) SendMsg(m any) error {
	if !s.checked {
		s.checked = true
		if err := s.check(m); err != nil {
			return err
		}
	}
	return s.ClientStream.SendMsg(m)
}

func authorize(policy *Policy, principal, method string, req any) error {
	r, ok := rules[method]
	if !ok {
		return nil
	}
	msg, ok := req.(proto.Message)
	if !ok {
		return nil
	}
	resource := stringField(msg.ProtoReflect(), r.field)
	perms := r.perms
	if r.overrides != "" && hasField(msg.ProtoReflect(), r.overrides) {
		perms = append(append([]string(nil), perms...), r.overridePerm)
	}
	for _, perm := range perms {
		if !policy.Allowed(principal, perm, resource) {
			return rpcDenied(method, perm, resource)
		}
	}
	return nil
}

// rpcDenied is the service's PermissionDenied.
func rpcDenied(method, perm, resource string) error {
	if strings.HasPrefix(method, "/google.pubsub.") {
		return status.Error(codes.PermissionDenied, "User not authorized to perform this action.")
	}
	return status.Error(codes.PermissionDenied, fmt.Sprintf("Permission '%s' denied on resource '%s' (or resource may not exist).", perm, resource))
}

func stringField(m protoreflect.Message, name string) string {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.IsList() {
		return ""
	}
	return m.Get(fd).String()
}

func hasField(m protoreflect.Message, name string) bool {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	return fd != nil && m.Has(fd)
}
