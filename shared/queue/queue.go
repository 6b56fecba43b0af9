// Package queue adapts Pub/Sub (cloud.google.com/go/pubsub/v2) to what the
// pipeline needs: publishing batches of messages to named topics, and
// pulling a subscription until it stays empty. The same code runs against
// Google Cloud and against the in-process pstest server of local mode.
package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
)

// Message is one message to publish.
type Message struct {
	Data        []byte
	Attributes  map[string]string
	OrderingKey string
}

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
		return fmt.Errorf("publish %d of %d messages to %s: %w", len(errs), len(msgs), topic, errors.Join(errs...))
	}
	return nil
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

// Received is a message handed to a Handler.
type Received struct {
	ID              string
	Data            []byte
	Attributes      map[string]string
	DeliveryAttempt int // 0 when the subscription has no dead-letter policy
	PublishTime     time.Time
}

// Outcome tells Receive what to do with a handled message.
type Outcome int

const (
	// Ack removes the message from the subscription.
	Ack Outcome = iota
	// Nack asks for redelivery (after the subscription's retry backoff).
	Nack
)

// Handler processes one message.
type Handler func(ctx context.Context, m Received) Outcome

// ReceiveOptions control Receive.
type ReceiveOptions struct {
	// Concurrency is how many messages are handled at once (default 1).
	Concurrency int
	// IdleTimeout ends Receive once no message has arrived for this long and
	// none is being handled (default 5s). Zero or negative keeps the default.
	IdleTimeout time.Duration
}

// Receive pulls subscription and calls h for each message until ctx ends or
// the subscription has stayed empty for IdleTimeout with nothing in flight.
// It returns nil in both cases; an error only for a broken subscription.
func Receive(ctx context.Context, client *pubsub.Client, subscription string, opts ReceiveOptions, h Handler) error {
	if opts.Concurrency < 1 {
		opts.Concurrency = 1
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 5 * time.Second
	}
	sub := client.Subscriber(subscription)
	sub.ReceiveSettings.MaxOutstandingMessages = opts.Concurrency
	sub.ReceiveSettings.NumGoroutines = 1
	// Bound the shutdown: in-flight handlers finish, unhandled leases are
	// released, so other tasks can take those messages at once.
	sub.ReceiveSettings.ShutdownOptions = &pubsub.ShutdownOptions{Behavior: pubsub.ShutdownBehaviorNackImmediately, Timeout: 30 * time.Second}

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var inFlight atomic.Int64
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	go func() {
		tick := time.NewTicker(opts.IdleTimeout / 10)
		defer tick.Stop()
		for {
			select {
			case <-cctx.Done():
				return
			case <-tick.C:
				if inFlight.Load() == 0 && time.Since(time.Unix(0, last.Load())) >= opts.IdleTimeout {
					cancel()
					return
				}
			}
		}
	}()
	err := sub.Receive(cctx, func(mctx context.Context, m *pubsub.Message) {
		inFlight.Add(1)
		defer func() {
			last.Store(time.Now().UnixNano())
			inFlight.Add(-1)
		}()
		r := Received{ID: m.ID, Data: m.Data, Attributes: m.Attributes, PublishTime: m.PublishTime}
		if m.DeliveryAttempt != nil {
			r.DeliveryAttempt = *m.DeliveryAttempt
		}
		// Handlers get the parent context: a partition query that is running
		// when the idle timer fires (it cannot: inFlight > 0) or when the
		// task is told to stop should finish or be cancelled by ctx itself.
		if h(ctx, r) == Ack {
			m.Ack()
		} else {
			m.Nack()
		}
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("receive from %s: %w", subscription, err)
	}
	return nil
}
