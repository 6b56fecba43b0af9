// Package eventdata holds the CloudEvent payloads the deployed functions
// receive, and their decoders: a Pub/Sub message delivered through Eventarc
// (or a plain Pub/Sub push converted by functions-framework-go) and a Cloud
// Storage object-finalized event.
//
// Google ships no Go type for the Pub/Sub payload (google-cloudevents-go has
// none and the framework's is internal), so MessagePublishedData is declared
// here. The Cloud Storage payload is the JSON object resource, whose int64
// fields arrive as strings; StorageObject decodes both spellings.
//
// Every decoding failure wraps ErrMalformed: a handler acks such an event
// (a retry cannot fix it) and retries only its own transient failures.
package eventdata

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// CloudEvent types this package decodes and builds.
const (
	// TypePubSubPublished is the Eventarc type of a published Pub/Sub message.
	TypePubSubPublished = "google.cloud.pubsub.topic.v1.messagePublished"
	// TypePubSubLegacy is the background-function type of a Pub/Sub message;
	// functions-framework-go converts it to TypePubSubPublished.
	TypePubSubLegacy = "google.pubsub.topic.publish"
	// TypeStorageFinalized is the Eventarc type of a new Cloud Storage object
	// (or a new generation of one).
	TypeStorageFinalized = "google.cloud.storage.object.v1.finalized"
)

// ErrMalformed is wrapped by every decoding error: the event can never be
// decoded, so redelivering it is pointless.
var ErrMalformed = errors.New("malformed event")

// MessagePublishedData is the data of a TypePubSubPublished CloudEvent.
// Subscription is empty when the event was converted by functions-framework-go
// from a plain push request (the framework drops it).
type MessagePublishedData struct {
	Message      PubsubMessage `json:"message"`
	Subscription string        `json:"subscription,omitempty"`
}

// PubsubMessage is one Pub/Sub message. Data is base64 in JSON and decoded
// into raw bytes here.
type PubsubMessage struct {
	Data        []byte            `json:"data,omitempty"`
	Attributes  map[string]string `json:"attributes,omitempty"`
	MessageID   string            `json:"messageId,omitempty"`
	PublishTime time.Time         `json:"publishTime,omitzero"`
	OrderingKey string            `json:"orderingKey,omitempty"`
}

// DecodePubSub returns the Pub/Sub message carried by e. See
// DecodeMessagePublished for the accepted shapes.
func DecodePubSub(e event.Event) (PubsubMessage, error) {
	d, err := DecodeMessagePublished(e)
	if err != nil {
		return PubsubMessage{}, err
	}
	return d.Message, nil
}

// DecodeMessagePublished decodes the data of a Pub/Sub CloudEvent. It accepts
// the Eventarc body ({"message": {...}, "subscription": "..."}), which is also
// what functions-framework-go produces from a plain Pub/Sub push request, and
// a bare message ({"data": "...", "attributes": {...}}) as legacy background
// events carry it. A missing message ID or publish time is taken from the
// event's id and time, which Eventarc sets to the same values. A message with
// neither data nor attributes is malformed, as Pub/Sub never delivers one.
func DecodeMessagePublished(e event.Event) (MessagePublishedData, error) {
	raw, err := jsonObject(e, "Pub/Sub message")
	if err != nil {
		return MessagePublishedData{}, err
	}
	var d MessagePublishedData
	switch {
	case raw["message"] != nil:
		if err := json.Unmarshal(e.Data(), &d); err != nil {
			return MessagePublishedData{}, malformed(e, "decode Pub/Sub message: %v", err)
		}
	case raw["data"] != nil || raw["attributes"] != nil:
		if err := json.Unmarshal(e.Data(), &d.Message); err != nil {
			return MessagePublishedData{}, malformed(e, "decode bare Pub/Sub message: %v", err)
		}
	default:
		return MessagePublishedData{}, malformed(e, "no Pub/Sub message in the data (want a \"message\" object)")
	}
	if len(d.Message.Data) == 0 && len(d.Message.Attributes) == 0 {
		return MessagePublishedData{}, malformed(e, "the Pub/Sub message has neither data nor attributes")
	}
	if d.Message.MessageID == "" {
		d.Message.MessageID = e.ID()
	}
	if d.Message.PublishTime.IsZero() {
		d.Message.PublishTime = e.Time()
	}
	return d, nil
}

// StorageObject is the data of a Cloud Storage CloudEvent: the JSON object
// resource. Generation, Metageneration and Size are int64 values that Cloud
// Storage writes as JSON strings; UnmarshalJSON also accepts plain numbers.
type StorageObject struct {
	Kind            string            `json:"kind,omitempty"`
	ID              string            `json:"id,omitempty"`
	SelfLink        string            `json:"selfLink,omitempty"`
	Bucket          string            `json:"bucket"`
	Name            string            `json:"name"`
	Generation      int64             `json:"generation,string"`
	Metageneration  int64             `json:"metageneration,string"`
	Size            int64             `json:"size,string"`
	ContentType     string            `json:"contentType,omitempty"`
	ContentEncoding string            `json:"contentEncoding,omitempty"`
	StorageClass    string            `json:"storageClass,omitempty"`
	MD5Hash         string            `json:"md5Hash,omitempty"`
	CRC32C          string            `json:"crc32c,omitempty"`
	ETag            string            `json:"etag,omitempty"`
	TimeCreated     time.Time         `json:"timeCreated,omitzero"`
	Updated         time.Time         `json:"updated,omitzero"`
	Metadata        map[string]string `json:"metadata,omitempty"`
}

// UnmarshalJSON decodes the object resource, accepting the int64 fields as
// JSON strings (as Cloud Storage sends them) or as numbers.
func (o *StorageObject) UnmarshalJSON(b []byte) error {
	type plain StorageObject // no methods: no recursion
	var aux struct {
		plain
		Generation     json.Number `json:"generation"`
		Metageneration json.Number `json:"metageneration"`
		Size           json.Number `json:"size"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*o = StorageObject(aux.plain)
	for _, f := range []struct {
		name string
		n    json.Number
		dst  *int64
	}{
		{"generation", aux.Generation, &o.Generation},
		{"metageneration", aux.Metageneration, &o.Metageneration},
		{"size", aux.Size, &o.Size},
	} {
		if f.n == "" {
			*f.dst = 0
			continue
		}
		v, err := f.n.Int64()
		if err != nil {
			return fmt.Errorf("%s %q is not an int64", f.name, string(f.n))
		}
		*f.dst = v
	}
	return nil
}

// DecodeStorageObject returns the object carried by a Cloud Storage event.
// It also accepts a Cloud Storage Pub/Sub notification (a Pub/Sub CloudEvent
// whose message data is the object resource). A bucket or name missing from
// the body is taken from the event's source (//storage.googleapis.com/
// projects/_/buckets/B) and subject (objects/NAME); an object still without
// both is malformed.
func DecodeStorageObject(e event.Event) (StorageObject, error) {
	raw, err := jsonObject(e, "Cloud Storage object")
	if err != nil {
		return StorageObject{}, err
	}
	body := e.Data()
	if raw["message"] != nil && raw["bucket"] == nil {
		m, err := DecodePubSub(e)
		if err != nil {
			return StorageObject{}, err
		}
		body = m.Data
	}
	var o StorageObject
	if err := json.Unmarshal(body, &o); err != nil {
		return StorageObject{}, malformed(e, "decode Cloud Storage object: %v", err)
	}
	if o.Bucket == "" {
		if _, b, ok := strings.Cut(e.Source(), "/buckets/"); ok {
			o.Bucket = strings.TrimSuffix(b, "/")
		}
	}
	if o.Name == "" {
		o.Name = strings.TrimPrefix(e.Subject(), "objects/")
	}
	if o.Bucket == "" || o.Name == "" {
		return StorageObject{}, malformed(e, "the Cloud Storage object has no bucket or no name (bucket %q, name %q)", o.Bucket, o.Name)
	}
	return o, nil
}

// NewPubSubEvent builds the CloudEvent Eventarc delivers for m published on
// topic ("projects/P/topics/T"), as the local stack and tests need it. The
// event id is m.MessageID, which must be set; the event time is
// m.PublishTime when set.
func NewPubSubEvent(topic, subscription string, m PubsubMessage) (event.Event, error) {
	if m.MessageID == "" {
		return event.Event{}, errors.New("eventdata: new Pub/Sub event: the message has no ID")
	}
	e := event.New()
	e.SetID(m.MessageID)
	e.SetType(TypePubSubPublished)
	e.SetSource("//pubsub.googleapis.com/" + topic)
	if !m.PublishTime.IsZero() {
		e.SetTime(m.PublishTime)
	}
	if err := e.SetData(event.ApplicationJSON, MessagePublishedData{Message: m, Subscription: subscription}); err != nil {
		return event.Event{}, fmt.Errorf("eventdata: new Pub/Sub event %s: %w", m.MessageID, err)
	}
	if err := e.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("eventdata: new Pub/Sub event %s: %w", m.MessageID, err)
	}
	return e, nil
}

// NewStorageFinalizedEvent builds the CloudEvent Eventarc delivers when o is
// written. The id is "bucket/name/generation" (unique per write, like
// Eventarc's); the time is o.Updated when set.
func NewStorageFinalizedEvent(o StorageObject) (event.Event, error) {
	if o.Bucket == "" || o.Name == "" {
		return event.Event{}, fmt.Errorf("eventdata: new storage event: bucket %q and name %q must both be set", o.Bucket, o.Name)
	}
	e := event.New()
	e.SetID(fmt.Sprintf("%s/%s/%d", o.Bucket, o.Name, o.Generation))
	e.SetType(TypeStorageFinalized)
	e.SetSource("//storage.googleapis.com/projects/_/buckets/" + o.Bucket)
	e.SetSubject("objects/" + o.Name)
	if !o.Updated.IsZero() {
		e.SetTime(o.Updated)
	}
	if err := e.SetData(event.ApplicationJSON, o); err != nil {
		return event.Event{}, fmt.Errorf("eventdata: new storage event gs://%s/%s: %w", o.Bucket, o.Name, err)
	}
	if err := e.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("eventdata: new storage event gs://%s/%s: %w", o.Bucket, o.Name, err)
	}
	return e, nil
}

// jsonObject checks that e carries a JSON object and returns its top-level
// fields, undecoded.
func jsonObject(e event.Event, what string) (map[string]json.RawMessage, error) {
	data := e.Data()
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, malformed(e, "no data (want a %s)", what)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, malformed(e, "data is not a JSON object (want a %s): %v", what, err)
	}
	if raw == nil {
		return nil, malformed(e, "data is null (want a %s)", what)
	}
	return raw, nil
}

// malformed formats a decoding error that names the event and wraps
// ErrMalformed.
func malformed(e event.Event, format string, args ...any) error {
	return fmt.Errorf("eventdata: %w %q (type %q, source %q): %s",
		ErrMalformed, e.ID(), e.Type(), e.Source(), fmt.Sprintf(format, args...))
}
