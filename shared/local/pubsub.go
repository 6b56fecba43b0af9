package local

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// PubSub is an in-process pstest server (gRPC on a loopback port) and a real
// pubsub/v2 client connected to it.
//
// pstest keeps messages in memory only, redelivers a nacked message at once
// (the retry policy's backoff is stored, not applied; the client connection
// applies it, see retryPolicy), adds none of the real
// service's CloudPubSubDeadLetterSource* attributes to dead-lettered
// messages, and never pushes: every subscription is read by pulling.
type PubSub struct {
	// Client is connected to Server; Close closes both.
	Client *pubsub.Client
	// Server is the fake, for its test helpers (Messages, ClearMessages,
	// AddPublishResponse, SetTimeNowFunc).
	Server *pstest.Server

	project   string
	retry     *retryPolicy
	conn      *grpc.ClientConn
	closeOnce sync.Once
	closeErr  error
}

// StartPubSub starts the server for project, listening on 127.0.0.1 only.
func StartPubSub(ctx context.Context, project string) (*PubSub, error) {
	if project == "" {
		return nil, errors.New("local pubsub: empty project")
	}
	srv, err := newPstest()
	if err != nil {
		return nil, err
	}
	retry := newRetryPolicy()
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(retry.intercept))
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("local pubsub: connect to %s: %w", srv.Addr, err)
	}
	c, err := pubsub.NewClient(ctx, project, option.WithGRPCConn(conn))
	if err != nil {
		conn.Close()
		srv.Close()
		return nil, fmt.Errorf("local pubsub: client: %w", err)
	}
	return &PubSub{Client: c, Server: srv, project: project, retry: retry, conn: conn}, nil
}

// SkipBackoff moves the retry policy's clock to when the first message
// withheld for its retry backoff is released, and reports whether one is
// withheld.
func (p *PubSub) SkipBackoff() bool { return p.retry.skip() }

// newPstest starts pstest on an ephemeral 127.0.0.1 port, turning its panic
// on a failed listen into an error.
func newPstest() (srv *pstest.Server, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("local pubsub: start server: %v", r)
		}
	}()
	return pstest.NewServerWithAddress("127.0.0.1:0"), nil
}

// Project is the project the topics and subscriptions belong to.
func (p *PubSub) Project() string { return p.project }

// TopicPath is the full name of a topic: projects/<project>/topics/<name>.
func (p *PubSub) TopicPath(name string) string { return "projects/" + p.project + "/topics/" + name }

// SubscriptionPath is the full name of a subscription:
// projects/<project>/subscriptions/<name>.
func (p *PubSub) SubscriptionPath(name string) string {
	return "projects/" + p.project + "/subscriptions/" + name
}

// EnsureTopic creates a topic unless it exists.
func (p *PubSub) EnsureTopic(ctx context.Context, name string) error {
	_, err := p.Client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: p.TopicPath(name)})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("local pubsub: create topic %s: %w", name, err)
	}
	return nil
}

// Subscription limits, as the real service enforces them.
const (
	minAckDeadline       = 10 * time.Second
	maxAckDeadline       = 600 * time.Second
	defaultMaxDeliveries = 5
	maxMaxDeliveries     = 100
	// The retry policy of terraform's partition subscription
	// (modules/pubsub) and completion push subscription (functions.tf).
	retryMinBackoff = 30 * time.Second
	retryMaxBackoff = 600 * time.Second
)

// EnsureSubscription creates a pull subscription of topic unless one named
// name exists (an existing subscription keeps its settings). ackDeadline is
// 10 s to 600 s, 0 meaning 10 s. With deadLetterTopic, a message delivered
// maxAttempts times without an ack goes there instead (5 to 100, 0 meaning
// 5, as on the real service; pstest would accept any value and, with 0,
// dead-letter every message at once). ordering delivers messages with the
// same ordering key one at a time, in publish order (publishers must then
// set EnableMessageOrdering). The retry policy is the one terraform gives
// the partition and completion subscriptions (retryMinBackoff to
// retryMaxBackoff), applied by the client connection since pstest ignores it.
func (p *PubSub) EnsureSubscription(ctx context.Context, name, topic string, ackDeadline time.Duration, deadLetterTopic string, maxAttempts int, ordering bool) error {
	if ackDeadline == 0 {
		ackDeadline = minAckDeadline
	}
	if ackDeadline < minAckDeadline || ackDeadline > maxAckDeadline {
		return fmt.Errorf("local pubsub: subscription %s: ack deadline %v outside %v..%v", name, ackDeadline, minAckDeadline, maxAckDeadline)
	}
	sub := &pubsubpb.Subscription{
		Name:                  p.SubscriptionPath(name),
		Topic:                 p.TopicPath(topic),
		AckDeadlineSeconds:    int32(ackDeadline / time.Second),
		EnableMessageOrdering: ordering,
		RetryPolicy: &pubsubpb.RetryPolicy{
			MinimumBackoff: durationpb.New(retryMinBackoff),
			MaximumBackoff: durationpb.New(retryMaxBackoff),
		},
	}
	if deadLetterTopic != "" {
		if maxAttempts == 0 {
			maxAttempts = defaultMaxDeliveries
		}
		if maxAttempts < defaultMaxDeliveries || maxAttempts > maxMaxDeliveries {
			return fmt.Errorf("local pubsub: subscription %s: max delivery attempts %d outside %d..%d",
				name, maxAttempts, defaultMaxDeliveries, maxMaxDeliveries)
		}
		sub.DeadLetterPolicy = &pubsubpb.DeadLetterPolicy{
			DeadLetterTopic:     p.TopicPath(deadLetterTopic),
			MaxDeliveryAttempts: int32(maxAttempts),
		}
	}
	_, err := p.Client.SubscriptionAdminClient.CreateSubscription(ctx, sub)
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("local pubsub: create subscription %s: %w", name, err)
	}
	return nil
}

// Close closes the client, its connection and the server. Calling it again
// does nothing.
func (p *PubSub) Close() error {
	p.closeOnce.Do(func() {
		var errs []error
		if err := p.Client.Close(); err != nil {
			errs = append(errs, fmt.Errorf("local pubsub: close client: %w", err))
		}
		if err := p.conn.Close(); err != nil && status.Code(err) != codes.Canceled {
			errs = append(errs, fmt.Errorf("local pubsub: close connection: %w", err))
		}
		if err := p.Server.Close(); err != nil {
			errs = append(errs, fmt.Errorf("local pubsub: stop server: %w", err))
		}
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}
