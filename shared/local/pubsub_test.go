package local

import (
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
)

func startTestPubSub(t *testing.T) *PubSub {
	t.Helper()
	ps, err := StartPubSub(context.Background(), "test-proj")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ps.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return ps
}

func TestPubSubLoopbackAndNames(t *testing.T) {
	ps := startTestPubSub(t)
	host, _, err := net.SplitHostPort(ps.Server.Addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		t.Errorf("server address %q is not loopback", ps.Server.Addr)
	}
	if got := ps.TopicPath("t"); got != "projects/test-proj/topics/t" {
		t.Errorf("TopicPath = %q", got)
	}
	if got := ps.SubscriptionPath("s"); got != "projects/test-proj/subscriptions/s" {
		t.Errorf("SubscriptionPath = %q", got)
	}
	if ps.Project() != "test-proj" {
		t.Errorf("Project = %q", ps.Project())
	}
	if err := ps.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := ps.Close(); err != nil { // and again from Cleanup
		t.Errorf("second Close: %v", err)
	}
}

func TestPubSubEnsureValidates(t *testing.T) {
	ctx := context.Background()
	ps := startTestPubSub(t)
	for _, name := range []string{"work", "dlq"} {
		for range 2 { // idempotent
			if err := ps.EnsureTopic(ctx, name); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name        string
		ackDeadline time.Duration
		dlq         string
		max         int
		wantErr     string
	}{
		{"ok-defaults", 0, "dlq", 0, ""},
		{"ok-defaults", 0, "dlq", 0, ""}, // exists: fine
		{"ok-max", 600 * time.Second, "dlq", 100, ""},
		{"no-dlq", 10 * time.Second, "", 0, ""},
		{"short-deadline", 5 * time.Second, "", 0, "ack deadline 5s outside 10s..10m0s"},
		{"long-deadline", 11 * time.Minute, "", 0, "ack deadline 11m0s outside"},
		{"few-attempts", 0, "dlq", 4, "max delivery attempts 4 outside 5..100"},
		{"many-attempts", 0, "dlq", 101, "max delivery attempts 101 outside 5..100"},
		{"missing-topic", 0, "", 0, "create subscription missing-topic"},
	} {
		topic := "work"
		if tc.name == "missing-topic" {
			topic = "nope"
		}
		err := ps.EnsureSubscription(ctx, tc.name, topic, tc.ackDeadline, tc.dlq, tc.max, false)
		if tc.wantErr == "" && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErr)
		}
	}
	sub, err := ps.Client.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: ps.SubscriptionPath("ok-defaults")})
	if err != nil {
		t.Fatal(err)
	}
	if sub.AckDeadlineSeconds != 10 || sub.DeadLetterPolicy.GetMaxDeliveryAttempts() != 5 ||
		sub.DeadLetterPolicy.GetDeadLetterTopic() != ps.TopicPath("dlq") {
		t.Errorf("defaults: ack %d, dead letter %v", sub.AckDeadlineSeconds, sub.DeadLetterPolicy)
	}
}

// TestPubSubDeadLetter publishes a good and a poison message; the poison one
// is nacked on every delivery and lands on the dead-letter topic after
// exactly maxAttempts deliveries.
func TestPubSubDeadLetter(t *testing.T) {
	ctx := context.Background()
	ps := startTestPubSub(t)
	for _, name := range []string{"work", "dlq"} {
		if err := ps.EnsureTopic(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	const maxAttempts = 5
	if err := ps.EnsureSubscription(ctx, "work-sub", "work", 10*time.Second, "dlq", maxAttempts, false); err != nil {
		t.Fatal(err)
	}
	if err := ps.EnsureSubscription(ctx, "dlq-sub", "dlq", 10*time.Second, "", 0, false); err != nil {
		t.Fatal(err)
	}

	pub := ps.Client.Publisher("work")
	defer pub.Stop()
	for _, data := range []string{"good", "poison"} {
		if _, err := pub.Publish(ctx, &pubsub.Message{Data: []byte(data), Attributes: map[string]string{"kind": data}}).Get(ctx); err != nil {
			t.Fatal(err)
		}
	}

	dead := make(chan *pubsub.Message, 1)
	dctx, stopDead := context.WithTimeout(ctx, 30*time.Second)
	defer stopDead()
	go ps.Client.Subscriber("dlq-sub").Receive(dctx, func(_ context.Context, m *pubsub.Message) {
		m.Ack()
		select {
		case dead <- m:
		default:
		}
	})

	var mu sync.Mutex
	attempts := map[string][]int{}
	wctx, stopWork := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- ps.Client.Subscriber("work-sub").Receive(wctx, func(_ context.Context, m *pubsub.Message) {
			mu.Lock()
			attempts[string(m.Data)] = append(attempts[string(m.Data)], psDeliveryAttempt(m))
			mu.Unlock()
			if string(m.Data) == "good" {
				m.Ack()
			} else {
				m.Nack()
			}
		})
	}()

	var got *pubsub.Message
	select {
	case got = <-dead:
	case <-dctx.Done():
		t.Fatal("nothing reached the dead-letter topic")
	}
	stopWork()
	if err := <-done; err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if string(got.Data) != "poison" || got.Attributes["kind"] != "poison" {
		t.Errorf("dead letter: %q %v, want the poison message with its attributes", got.Data, got.Attributes)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []int{1}; !slices.Equal(attempts["good"], want) {
		t.Errorf("good deliveries %v, want %v", attempts["good"], want)
	}
	if want := []int{1, 2, 3, 4, 5}; !slices.Equal(attempts["poison"], want) {
		t.Errorf("poison delivery attempts %v, want %v", attempts["poison"], want)
	}
}

func psDeliveryAttempt(m *pubsub.Message) int {
	if m.DeliveryAttempt == nil {
		return 0
	}
	return *m.DeliveryAttempt
}
