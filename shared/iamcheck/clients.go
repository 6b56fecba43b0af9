package iamcheck

import (
	"context"
	"fmt"
	"net/http"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bqbackfill/bqbackfill/shared/gcsfake"
)

// Conn dials an in-process gRPC server (pstest, a Cloud Run fake) on addr
// with every call made as principal and checked against policy. A nil
// policy checks nothing (an administrator setting the fake up).
func Conn(addr string, policy *Policy, principal string) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if policy != nil {
		opts = append(opts, grpc.WithUnaryInterceptor(UnaryInterceptor(policy, principal)), grpc.WithStreamInterceptor(StreamInterceptor(policy, principal)))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("iamcheck: dial %s: %w", addr, err)
	}
	return conn, nil
}

// PubSub is a Pub/Sub client of project on the pstest server at addr,
// acting as principal.
func PubSub(ctx context.Context, addr, project string, policy *Policy, principal string) (*pubsub.Client, error) {
	conn, err := Conn(addr, policy, principal)
	if err != nil {
		return nil, err
	}
	c, err := pubsub.NewClient(ctx, project, option.WithGRPCConn(conn))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("iamcheck: pubsub client: %w", err)
	}
	return c, nil
}

// Storage is a Cloud Storage client over base (fakestorage's
// HTTPClient().Transport) acting as principal. Reads use the XML API, as
// the client's defaults do in production; listings honour matchGlob
// (gcsfake.MatchGlob), which the fake alone ignores.
func Storage(ctx context.Context, base http.RoundTripper, policy *Policy, principal string, opts ...option.ClientOption) (*storage.Client, error) {
	rt := gcsfake.MatchGlob(base)
	if policy != nil {
		rt = GCS(rt, policy, principal)
	}
	c, err := storage.NewClient(ctx, append([]option.ClientOption{option.WithHTTPClient(&http.Client{Transport: rt}), option.WithoutAuthentication()}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("iamcheck: storage client: %w", err)
	}
	return c, nil
}
