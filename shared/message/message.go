// Package message holds the shape of the messages the pipeline sends and
// receives, independent of the transport: shared/queue carries them over
// Pub/Sub, and shared/pipeline is written against these types only.
package message

import (
	"context"
	"time"
)

// Message is one message to publish.
type Message struct {
	Data        []byte
	Attributes  map[string]string
	OrderingKey string
}

// Received is a message handed to a Handler.
type Received struct {
	ID              string
	Data            []byte
	Attributes      map[string]string
	DeliveryAttempt int // 0 when the subscription has no dead-letter policy
	PublishTime     time.Time
}

// Outcome tells the receiver what to do with a handled message.
type Outcome int

const (
	// Ack removes the message from the subscription.
	Ack Outcome = iota
	// Nack asks for redelivery (after the subscription's retry backoff).
	Nack
)

// Handler processes one message.
type Handler func(ctx context.Context, m Received) Outcome
