package local

import (
	"context"
	"fmt"
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

// PubSub is an in-process pstest server (gRPC on loopback) and a real
// pubsub/v2 client for it. pstest keeps messages in memory only, ignores
// retry backoff (a nack redelivers at once) and never pushes.
type PubSub struct {
	Client  *pubsub.Client
	Server  *pstest.Server
	project string
	conn    *grpc.ClientConn
}

// StartPubSub starts the server for project.
func StartPubSub(ctx context.Context, project string) (*PubSub, error) {
	srv := pstest.NewServer()
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("connect to local pubsub: %w", err)
	}
	c, err := pubsub.NewClient(ctx, project, option.WithGRPCConn(conn))
	if err != nil {
		conn.Close()
		srv.Close()
		return nil, fmt.Errorf("local pubsub client: %w", err)
	}
	return &PubSub{Client: c, Server: srv, project: project, conn: conn}, nil
}

func (p *PubSub) topic(name string) string { return "projects/" + p.project + "/topics/" + name }

// EnsureTopic creates a topic unless it exists.
func (p *PubSub) EnsureTopic(ctx context.Context, name string) error {
	_, err := p.Client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: p.topic(name)})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	return nil
}

// EnsureSubscription creates a pull subscription unless it exists, with a
// dead-letter policy when deadLetterTopic is set.
func (p *PubSub) EnsureSubscription(ctx context.Context, name, topic string, ackDeadline time.Duration, deadLetterTopic string, maxAttempts int, ordering bool) error {
	sub := &pubsubpb.Subscription{
		Name:                  "projects/" + p.project + "/subscriptions/" + name,
		Topic:                 p.topic(topic),
		AckDeadlineSeconds:    int32(ackDeadline / time.Second),
		EnableMessageOrdering: ordering,
		RetryPolicy:           &pubsubpb.RetryPolicy{MinimumBackoff: durationpb.New(10 * time.Second), MaximumBackoff: durationpb.New(600 * time.Second)},
	}
	if deadLetterTopic != "" {
		sub.DeadLetterPolicy = &pubsubpb.DeadLetterPolicy{DeadLetterTopic: p.topic(deadLetterTopic), MaxDeliveryAttempts: int32(maxAttempts)}
	}
	_, err := p.Client.SubscriptionAdminClient.CreateSubscription(ctx, sub)
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("create subscription %s: %w", name, err)
	}
	return nil
}

// Close stops the client and the server.
func (p *PubSub) Close() error {
	err := p.Client.Close()
	p.conn.Close()
	p.Server.Close()
	return err
}
