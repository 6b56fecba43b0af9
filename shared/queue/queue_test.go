package queue

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bqbackfill/bqbackfill/shared/iamcheck"
)

func newClient(t *testing.T) *pubsub.Client {
	t.Helper()
	ctx := context.Background()
	srv := pstest.NewServer()
	t.Cleanup(func() { srv.Close() })
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := pubsub.NewClient(ctx, "p", option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/p/topics/work"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: "projects/p/subscriptions/work-sub", Topic: "projects/p/topics/work", AckDeadlineSeconds: 10,
	}); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPublishReceiveUntilIdle(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	pub := NewPublisher(c)
	defer pub.Stop()
	var msgs []Message
	for i := 0; i < 50; i++ {
		msgs = append(msgs, Message{Data: []byte(fmt.Sprint(i)), Attributes: map[string]string{"i": fmt.Sprint(i)}})
	}
	if err := pub.Publish(ctx, "work", msgs...); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	nacked := false
	err := Receive(ctx, c, "work-sub", ReceiveOptions{Concurrency: 4, IdleTimeout: 500 * time.Millisecond}, func(ctx context.Context, m Received) Outcome {
		mu.Lock()
		defer mu.Unlock()
		if string(m.Data) == "7" && !nacked {
			nacked = true
			return Nack // redelivered
		}
		seen[string(m.Data)]++
		return Ack
	})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k, n := range seen {
		if n != 1 {
			t.Errorf("message %s handled %d times after ack", k, n)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) != 50 {
		t.Fatalf("handled %d distinct messages, want 50", len(keys))
	}
}

func TestReceiveStopsWhenContextEnds(t *testing.T) {
	c := newClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Receive(ctx, c, "work-sub", ReceiveOptions{IdleTimeout: time.Hour}, func(context.Context, Received) Outcome { return Ack }); err != nil {
		t.Fatalf("cancelled receive returned %v", err)
	}
}

// The lease is extended as soon as a message is received, not only at half
// the handler's deadline: a subscription's own ack deadline may be 10 s
// while the first renewal of a 600 s lease would come at 300 s.
func TestLeaseExtendedOnReceipt(t *testing.T) {
	ctx := context.Background()
	srv := pstest.NewServer()
	t.Cleanup(func() { srv.Close() })
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	srv.SetTimeNowFunc(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := pubsub.NewClient(ctx, "p", option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/p/topics/work"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: "projects/p/subscriptions/work-sub", Topic: "projects/p/topics/work", AckDeadlineSeconds: 10,
	}); err != nil {
		t.Fatal(err)
	}
	pub := NewPublisher(c)
	defer pub.Stop()
	if err := pub.Publish(ctx, "work", Message{Data: []byte("long")}); err != nil {
		t.Fatal(err)
	}
	handled := 0
	var stolen int
	err = Receive(ctx, c, "work-sub", ReceiveOptions{IdleTimeout: 200 * time.Millisecond, ReturnImmediately: true, AckDeadline: 600 * time.Second},
		func(ctx context.Context, m Received) Outcome {
			handled++
			// Past the subscription's 10 s deadline, well before 300 s.
			advance(30 * time.Second)
			resp, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: "projects/p/subscriptions/work-sub", MaxMessages: 1, ReturnImmediately: true})
			if err != nil {
				t.Errorf("second pull: %v", err)
			} else {
				stolen += len(resp.ReceivedMessages)
			}
			return Ack
		})
	if err != nil {
		t.Fatal(err)
	}
	if handled != 1 || stolen != 0 {
		t.Errorf("handled %d, redelivered to another puller while leased %d times; want 1 and 0", handled, stolen)
	}
}

// Pub/Sub's PermissionDenied does not say which permission is missing;
// the errors of Publish and Receive do.
func TestPermissionDeniedNamesPermission(t *testing.T) {
	ctx := context.Background()
	srv := pstest.NewServer()
	t.Cleanup(func() { srv.Close() })
	admin := newClientOn(t, srv.Addr, nil, "")
	if _, err := admin.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/p/topics/work"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: "projects/p/subscriptions/work-sub", Topic: "projects/p/topics/work", AckDeadlineSeconds: 10}); err != nil {
		t.Fatal(err)
	}
	c := newClientOn(t, srv.Addr, &iamcheck.Policy{}, "nobody@example.com")
	pub := NewPublisher(c)
	defer pub.Stop()
	err := pub.Publish(ctx, "work", Message{Data: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "User not authorized") || !strings.Contains(err.Error(), "needs pubsub.topics.publish on topic work") {
		t.Errorf("publish: %v", err)
	}
	err = Receive(ctx, c, "work-sub", ReceiveOptions{ReturnImmediately: true}, func(context.Context, Received) Outcome { return Ack })
	if err == nil || !strings.Contains(err.Error(), "needs pubsub.subscriptions.consume on subscription projects/p/subscriptions/work-sub") {
		t.Errorf("receive: %v", err)
	}
}

func newClientOn(t *testing.T, addr string, pol *iamcheck.Policy, principal string) *pubsub.Client {
	t.Helper()
	c, err := iamcheck.PubSub(context.Background(), addr, "p", pol, principal)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
