package local

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/bqbackfill/bqbackfill/shared/backoff"
)

// Pub/Sub methods the retry policy watches.
const (
	methodPull            = "/google.pubsub.v1.Subscriber/Pull"
	methodModifyAck       = "/google.pubsub.v1.Subscriber/ModifyAckDeadline"
	methodAcknowledge     = "/google.pubsub.v1.Subscriber/Acknowledge"
	methodGetSubscription = "/google.pubsub.v1.Subscriber/GetSubscription"
)

// retryPolicy makes pstest honour a subscription's RetryPolicy, which it
// stores but ignores (it redelivers a nacked message at once). It sits in
// the client connection: a nack (ModifyAckDeadline to 0) of a message is
// turned into a lease for the backoff Pub/Sub documents, exponential from
// minimum_backoff to maximum_backoff over the message's consecutive
// nacks, so pstest redelivers it only after that backoff. Messages are
// pulled with unary Pull (shared/queue); a nack through streaming pull is
// not seen. An expired ack deadline redelivers at once, as pstest does.
//
// The backoff runs on the policy's own clock, real time plus an offset:
// the stack skips the offset forward to the next release when nothing else
// can happen (skip), so a local run does not sit out a backoff that only
// protects BigQuery's rate limits, while the order of events stays the
// real one. A withheld message whose release time has passed on that clock
// is released (nacked for real) before the next pull of its subscription.
// pstest's own clock stays real time: it drops a message that is not leased
// 10 minutes after its publication, so skipping its clock would lose
// messages the real service keeps for days.
type retryPolicy struct {
	mu       sync.Mutex
	offset   time.Duration
	policies map[string]*backoff.Policy // subscription -> backoff; nil: no retry policy
	leases   map[string]string          // ack id -> message key (subscription + id)
	nacks    map[string]int             // message key -> consecutive nacks
	held     map[string]heldMessage     // message key -> the withheld message
	realNow  func() time.Time
}

func newRetryPolicy() *retryPolicy {
	return &retryPolicy{
		policies: map[string]*backoff.Policy{},
		leases:   map[string]string{},
		nacks:    map[string]int{},
		held:     map[string]heldMessage{},
		realNow:  time.Now,
	}
}

// heldMessage is a nacked message withheld until at (the policy's clock).
type heldMessage struct {
	sub, ackID string
	at         time.Time
}

// now is the policy's clock.
func (r *retryPolicy) now() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.realNow().Add(r.offset)
}

// nextRelease is when the first withheld message becomes available again
// (the policy's clock), and whether one is withheld at all.
func (r *retryPolicy) nextRelease() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var first time.Time
	for _, h := range r.held {
		if first.IsZero() || h.at.Before(first) {
			first = h.at
		}
	}
	return first, !first.IsZero()
}

// skip moves pstest's clock to the next release if one is pending and
// still ahead; it reports whether a message is withheld.
func (r *retryPolicy) skip() bool {
	at, ok := r.nextRelease()
	if !ok {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.realNow().Add(r.offset); at.After(now) {
		r.offset += at.Sub(now) + time.Millisecond
	}
	return true
}

func (r *retryPolicy) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	switch method {
	case methodPull:
		sub := req.(*pubsubpb.PullRequest).GetSubscription()
		if err := r.release(ctx, cc, invoker, sub, opts...); err != nil {
			return err
		}
		if err := invoker(ctx, method, req, reply, cc, opts...); err != nil {
			return err
		}
		r.mu.Lock()
		for _, rm := range reply.(*pubsubpb.PullResponse).GetReceivedMessages() {
			key := sub + "\x00" + rm.GetMessage().GetMessageId()
			r.leases[rm.GetAckId()] = key
			delete(r.held, key)
		}
		r.mu.Unlock()
		return nil
	case methodAcknowledge:
		a := req.(*pubsubpb.AcknowledgeRequest)
		r.mu.Lock()
		for _, id := range a.GetAckIds() {
			if key, ok := r.leases[id]; ok {
				delete(r.nacks, key)
				delete(r.leases, id)
			}
		}
		r.mu.Unlock()
	case methodModifyAck:
		m := req.(*pubsubpb.ModifyAckDeadlineRequest)
		if m.GetAckDeadlineSeconds() != 0 {
			break
		}
		pol, err := r.policy(ctx, cc, m.GetSubscription())
		if err != nil {
			return err
		}
		if pol == nil {
			break // no retry policy: redelivery as soon as possible
		}
		// One modack per distinct backoff, each a whole number of
		// seconds as the API takes them.
		bySecs := map[int32][]string{}
		now := r.now()
		r.mu.Lock()
		for _, id := range m.GetAckIds() {
			key, ok := r.leases[id]
			if !ok {
				bySecs[0] = append(bySecs[0], id)
				continue
			}
			delete(r.leases, id)
			r.nacks[key]++
			secs := int32(math.Ceil(pol.Delay(r.nacks[key]).Seconds()))
			r.held[key] = heldMessage{sub: m.GetSubscription(), ackID: id, at: now.Add(time.Duration(secs) * time.Second)}
			bySecs[secs] = append(bySecs[secs], id)
		}
		r.mu.Unlock()
		for secs, ids := range bySecs {
			mr := &pubsubpb.ModifyAckDeadlineRequest{Subscription: m.GetSubscription(), AckIds: ids, AckDeadlineSeconds: secs}
			if err := invoker(ctx, method, mr, reply, cc, opts...); err != nil {
				return err
			}
		}
		return nil
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// release nacks for real the withheld messages of sub whose backoff has
// passed on the policy's clock (pstest, on real time, may not see it yet).
func (r *retryPolicy) release(ctx context.Context, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, sub string, opts ...grpc.CallOption) error {
	now := r.now()
	var due []string
	r.mu.Lock()
	for key, h := range r.held {
		if h.sub == sub && !h.at.After(now) {
			due = append(due, h.ackID)
			delete(r.held, key)
		}
	}
	r.mu.Unlock()
	if len(due) == 0 {
		return nil
	}
	return invoker(ctx, methodModifyAck, &pubsubpb.ModifyAckDeadlineRequest{Subscription: sub, AckIds: due}, &emptypb.Empty{}, cc, opts...)
}

// policy reads (once) the retry policy of a subscription from the server.
func (r *retryPolicy) policy(ctx context.Context, cc *grpc.ClientConn, sub string) (*backoff.Policy, error) {
	r.mu.Lock()
	pol, ok := r.policies[sub]
	r.mu.Unlock()
	if ok {
		return pol, nil
	}
	var s pubsubpb.Subscription
	if err := cc.Invoke(ctx, methodGetSubscription, &pubsubpb.GetSubscriptionRequest{Subscription: sub}, &s); err != nil {
		return nil, fmt.Errorf("local pubsub: read the retry policy of %s: %w", sub, err)
	}
	if rp := s.GetRetryPolicy(); rp != nil {
		// Unset bounds take the service's defaults: 10 s and 600 s.
		pol = &backoff.Policy{Initial: 10 * time.Second, Max: 600 * time.Second}
		if d := rp.GetMinimumBackoff(); d != nil {
			pol.Initial = d.AsDuration()
		}
		if d := rp.GetMaximumBackoff(); d != nil {
			pol.Max = d.AsDuration()
		}
	}
	r.mu.Lock()
	r.policies[sub] = pol
	r.mu.Unlock()
	return pol, nil
}
