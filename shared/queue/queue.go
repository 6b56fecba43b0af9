// Package queue adapts Pub/Sub (cloud.google.com/go/pubsub/v2) to what the
// pipeline needs: publishing batches of messages to named topics, and
// pulling a subscription until it stays empty. The same code runs against
// Google Cloud and against the in-process pstest server of local mode.
package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bqbackfill/bqbackfill/shared/backoff"
	"github.com/bqbackfill/bqbackfill/shared/message"
)

// The message types live in shared/message, so that the pipeline can use
// them without depending on Pub/Sub; these aliases keep queue.Message and
// friends working.
type (
	// Message is one message to publish.
	Message = message.Message
	// Received is a message handed to a Handler.
	Received = message.Received
	// Outcome tells Receive what to do with a handled message.
	Outcome = message.Outcome
	// Handler processes one message.
	Handler = message.Handler
)

// Outcomes.
const (
	Ack  = message.Ack
	Nack = message.Nack
)

// Publisher publishes to topics by id. Safe for concurrent use.
type Publisher struct {
	client *pubsub.Client

	mu   sync.Mutex
	pubs map[string]*pubsub.Publisher
}

// NewPublisher returns a Publisher over client.
func NewPublisher(client *pubsub.Client) *Publisher {
	return &Publisher{client: client, pubs: map[string]*pubsub.Publisher{}}
}

func (p *Publisher) publisher(topic string) *pubsub.Publisher {
	p.mu.Lock()
	defer p.mu.Unlock()
	pub, ok := p.pubs[topic]
	if !ok {
		pub = p.client.Publisher(topic)
		pub.EnableMessageOrdering = true
		p.pubs[topic] = pub
	}
	return pub
}

// Publish sends msgs to topic and waits until every one is accepted. The
// client batches them; on error some messages may have been published
// (consumers are idempotent, so publishing again is safe).
func (p *Publisher) Publish(ctx context.Context, topic string, msgs ...Message) error {
	pub := p.publisher(topic)
	results := make([]*pubsub.PublishResult, len(msgs))
	for i, m := range msgs {
		results[i] = pub.Publish(ctx, &pubsub.Message{Data: m.Data, Attributes: m.Attributes, OrderingKey: m.OrderingKey})
	}
	var errs []error
	for i, r := range results {
		if _, err := r.Get(ctx); err != nil {
			if msgs[i].OrderingKey != "" {
				pub.ResumePublish(msgs[i].OrderingKey)
			}
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("publish %d of %d messages to %s: %w", len(errs), len(msgs), topic, needs(errors.Join(errs...), "pubsub.topics.publish", "topic "+topic))
	}
	return nil
}

// needs adds to a PermissionDenied error the permission the call lacked:
// Pub/Sub answers only "User not authorized to perform this action.", and
// whoever reads the log has to find out what to grant.
func needs(err error, perm, resource string) error {
	if status.Code(err) == codes.PermissionDenied {
		return fmt.Errorf("%w (the caller needs %s on %s)", err, perm, resource)
	}
	return err
}

// Stop flushes and stops every publisher.
func (p *Publisher) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pub := range p.pubs {
		pub.Stop()
	}
	p.pubs = map[string]*pubsub.Publisher{}
}

// ReceiveOptions control Receive.
type ReceiveOptions struct {
	// Concurrency is how many messages are handled at once (default 1).
	Concurrency int
	// IdleTimeout ends Receive once no message has arrived for this long and
	// none is being handled (default 5s). Zero or negative keeps the default.
	IdleTimeout time.Duration
	// ReturnImmediately makes each pull answer at once when the subscription
	// is empty (Receive then polls with a short backoff). Use it with pstest,
	// whose pulls otherwise wait 500 ms; Google Cloud discourages it.
	ReturnImmediately bool
	// AckDeadline is the lease taken on a message and renewed while it is
	// handled (default 60s).
	AckDeadline time.Duration
}

// emptyPoll spaces the pulls of an empty subscription.
var emptyPoll = backoff.Policy{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond}

// Subscription is one subscription with its receive options: the
// receiver a worker task pulls its messages from (shared/pipeline.Receiver).
type Subscription struct {
	Client  *pubsub.Client
	Name    string
	Options ReceiveOptions
}

// Receive is Receive on s.
func (s Subscription) Receive(ctx context.Context, h Handler) error {
	return Receive(ctx, s.Client, s.Name, s.Options, h)
}

// Receive pulls subscription and calls h for each message until ctx ends or
// the subscription has stayed empty for IdleTimeout with nothing in flight.
// It returns nil in both cases; an error only for a broken subscription.
//
// It uses unary Pull, one message per request and per worker, rather than
// streaming pull: each message is a long query, and pulling exactly what a
// worker can handle spreads the messages evenly over all worker tasks
// (a stream would buffer messages in one task while others sit idle). The
// lease is renewed while a message is handled.
func Receive(ctx context.Context, client *pubsub.Client, subscription string, opts ReceiveOptions, h Handler) error {
	if opts.Concurrency < 1 {
		opts.Concurrency = 1
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 5 * time.Second
	}
	if opts.AckDeadline < 10*time.Second {
		opts.AckDeadline = 60 * time.Second
	}
	sub := subscription
	if !strings.HasPrefix(sub, "projects/") {
		sub = "projects/" + client.Project() + "/subscriptions/" + subscription
	}
	admin := client.SubscriptionAdminClient
	var inFlight atomic.Int64
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	idle := func() bool {
		return inFlight.Load() == 0 && time.Since(time.Unix(0, last.Load())) >= opts.IdleTimeout
	}
	var wg sync.WaitGroup
	errs := make(chan error, opts.Concurrency)
	for w := 0; w < opts.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			empty := 0 // consecutive empty pulls
			for ctx.Err() == nil {
				resp, err := admin.Pull(ctx, &pubsubpb.PullRequest{Subscription: sub, MaxMessages: 1, ReturnImmediately: opts.ReturnImmediately})
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					if st, ok := status.FromError(err); ok && (st.Code() == codes.NotFound || st.Code() == codes.PermissionDenied || st.Code() == codes.InvalidArgument) {
						errs <- fmt.Errorf("pull %s: %w", sub, needs(err, "pubsub.subscriptions.consume", "subscription "+sub))
						return
					}
					// Transient: retry after the backoff.
				}
				if resp == nil || len(resp.ReceivedMessages) == 0 {
					if idle() {
						return
					}
					empty++
					if backoff.Sleep(ctx, emptyPoll.Delay(empty)) != nil {
						return
					}
					continue
				}
				empty = 0
				rm := resp.ReceivedMessages[0]
				inFlight.Add(1)
				out := handleLeased(ctx, admin, sub, rm, opts.AckDeadline, h)
				// Settle the message even if ctx was cancelled meanwhile.
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				if out == Ack {
					_ = admin.Acknowledge(sctx, &pubsubpb.AcknowledgeRequest{Subscription: sub, AckIds: []string{rm.AckId}})
				} else {
					_ = admin.ModifyAckDeadline(sctx, &pubsubpb.ModifyAckDeadlineRequest{Subscription: sub, AckIds: []string{rm.AckId}, AckDeadlineSeconds: 0})
				}
				cancel()
				last.Store(time.Now().UnixNano())
				inFlight.Add(-1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// handleLeased runs h on one pulled message, renewing its lease meanwhile.
// The lease is extended on receipt: the pull leased the message for the
// subscription's ack deadline only (10 s at least), which may be shorter
// than the first renewal at deadline/2.
func handleLeased(ctx context.Context, admin *pubsubapi.SubscriptionAdminClient, sub string, rm *pubsubpb.ReceivedMessage, deadline time.Duration, h Handler) Outcome {
	extend := func() {
		_ = admin.ModifyAckDeadline(context.WithoutCancel(ctx), &pubsubpb.ModifyAckDeadlineRequest{Subscription: sub, AckIds: []string{rm.AckId}, AckDeadlineSeconds: int32(deadline / time.Second)})
	}
	extend()
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(deadline / 2)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				extend()
			}
		}
	}()
	m := rm.GetMessage()
	r := Received{ID: m.GetMessageId(), Data: m.GetData(), Attributes: m.GetAttributes(), DeliveryAttempt: int(rm.GetDeliveryAttempt())}
	if m.GetPublishTime() != nil {
		r.PublishTime = m.GetPublishTime().AsTime()
	}
	return h(ctx, r)
}
