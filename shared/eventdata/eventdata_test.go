package eventdata

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// newEvent builds a CloudEvent carrying body as its raw JSON data.
func newEvent(t *testing.T, typ, source, subject, body string) event.Event {
	t.Helper()
	e := event.New()
	e.SetID("evt-1")
	e.SetType(typ)
	e.SetSource(source)
	if subject != "" {
		e.SetSubject(subject)
	}
	e.SetTime(time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC))
	if body != "" {
		if err := e.SetData(event.ApplicationJSON, []byte(body)); err != nil {
			t.Fatalf("SetData: %v", err)
		}
	}
	return e
}

const pubsubSource = "//pubsub.googleapis.com/projects/p/topics/backfill-events"

func TestDecodeMessagePublished(t *testing.T) {
	publish := time.Date(2024, 1, 1, 0, 0, 0, 123000000, time.UTC)
	eventTime := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		typ     string
		body    string
		want    MessagePublishedData
		wantErr string // substring; empty means success
	}{
		{
			name: "eventarc body",
			typ:  TypePubSubPublished,
			body: `{"message":{"data":"aGVsbG8=","attributes":{"k":"v"},"messageId":"123","publishTime":"2024-01-01T00:00:00.123Z","orderingKey":"ok"},
			        "subscription":"projects/p/subscriptions/eventarc-sub"}`,
			want: MessagePublishedData{
				Message: PubsubMessage{Data: []byte("hello"), Attributes: map[string]string{"k": "v"},
					MessageID: "123", PublishTime: publish, OrderingKey: "ok"},
				Subscription: "projects/p/subscriptions/eventarc-sub",
			},
		},
		{
			// What funcframework's convertBackgroundToCloudEventRequest makes of
			// a plain push request: "@type" added, subscription dropped.
			name: "push body converted by the framework",
			typ:  TypePubSubPublished,
			body: `{"message":{"@type":"type.googleapis.com/google.pubsub.v1.PubsubMessage","attributes":null,
			        "data":"e30=","messageId":"77","publishTime":"2024-01-01T00:00:00.123Z"}}`,
			want: MessagePublishedData{Message: PubsubMessage{Data: []byte("{}"), MessageID: "77", PublishTime: publish}},
		},
		{
			name: "bare legacy message takes id and time from the event",
			typ:  TypePubSubLegacy,
			body: `{"data":"aGk=","attributes":{"a":"b"}}`,
			want: MessagePublishedData{Message: PubsubMessage{Data: []byte("hi"), Attributes: map[string]string{"a": "b"},
				MessageID: "evt-1", PublishTime: eventTime}},
		},
		{
			name: "attributes only",
			typ:  TypePubSubPublished,
			body: `{"message":{"attributes":{"only":"attrs"},"messageId":"9"}}`,
			want: MessagePublishedData{Message: PubsubMessage{Attributes: map[string]string{"only": "attrs"},
				MessageID: "9", PublishTime: eventTime}},
		},
		{name: "no data", typ: TypePubSubPublished, body: "", wantErr: "no data"},
		{name: "not json", typ: TypePubSubPublished, body: "hello", wantErr: "not a JSON object"},
		{name: "json array", typ: TypePubSubPublished, body: "[1]", wantErr: "not a JSON object"},
		{name: "null", typ: TypePubSubPublished, body: "null", wantErr: "data is null"},
		{name: "storage object", typ: TypeStorageFinalized, body: `{"bucket":"b","name":"n"}`, wantErr: `no Pub/Sub message`},
		{name: "bad base64", typ: TypePubSubPublished, body: `{"message":{"data":"!!"}}`, wantErr: "decode Pub/Sub message"},
		{name: "empty message", typ: TypePubSubPublished, body: `{"message":{"messageId":"1"}}`, wantErr: "neither data nor attributes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEvent(t, tt.typ, pubsubSource, "", tt.body)
			got, err := DecodeMessagePublished(e)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("DecodeMessagePublished = %+v, want error containing %q", got, tt.wantErr)
				}
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("error %v does not wrap ErrMalformed", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), `"evt-1"`) {
					t.Errorf("error %q: want it to contain %q and the event id", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeMessagePublished: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			m, err := DecodePubSub(e)
			if err != nil || !reflect.DeepEqual(m, tt.want.Message) {
				t.Errorf("DecodePubSub = %+v, %v; want %+v", m, err, tt.want.Message)
			}
		})
	}
}

func TestDecodeStorageObject(t *testing.T) {
	updated := time.Date(2024, 4, 5, 6, 7, 8, 0, time.UTC)
	const source = "//storage.googleapis.com/projects/_/buckets/sql-bkt"
	tests := []struct {
		name    string
		subject string
		body    string
		want    StorageObject
		wantErr string
	}{
		{
			name:    "finalize body with string int64s",
			subject: "objects/manifest.json",
			body: `{"kind":"storage#object","bucket":"sql-bkt","name":"manifest.json","generation":"1712345678901234",
			        "metageneration":"1","size":"42","contentType":"application/json","updated":"2024-04-05T06:07:08Z",
			        "metadata":{"commit":"abc"},"unknownField":true}`,
			want: StorageObject{Kind: "storage#object", Bucket: "sql-bkt", Name: "manifest.json", Generation: 1712345678901234,
				Metageneration: 1, Size: 42, ContentType: "application/json", Updated: updated,
				Metadata: map[string]string{"commit": "abc"}},
		},
		{
			name: "plain numbers are accepted too",
			body: `{"bucket":"sql-bkt","name":"a/b.sql","generation":7,"size":0}`,
			want: StorageObject{Bucket: "sql-bkt", Name: "a/b.sql", Generation: 7},
		},
		{
			name:    "bucket and name from source and subject",
			subject: "objects/dir/manifest.json",
			body:    `{"generation":"3"}`,
			want:    StorageObject{Bucket: "sql-bkt", Name: "dir/manifest.json", Generation: 3},
		},
		{
			name: "pub/sub notification for cloud storage",
			// base64 of {"bucket":"n-bkt","name":"x","generation":"5","size":"10"}
			body: `{"message":{"data":"eyJidWNrZXQiOiJuLWJrdCIsIm5hbWUiOiJ4IiwiZ2VuZXJhdGlvbiI6IjUiLCJzaXplIjoiMTAifQ==","messageId":"1"}}`,
			want: StorageObject{Bucket: "n-bkt", Name: "x", Generation: 5, Size: 10},
		},
		{name: "bad generation", body: `{"bucket":"b","name":"n","generation":"x1"}`, wantErr: "decode Cloud Storage object"},
		{name: "no name", body: `{"bucket":"b"}`, wantErr: "no bucket or no name"},
		{name: "no data", wantErr: "no data"},
		{name: "wrong type", body: `"text"`, wantErr: "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEvent(t, TypeStorageFinalized, source, tt.subject, tt.body)
			got, err := DecodeStorageObject(e)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("DecodeStorageObject = %+v, want error containing %q", got, tt.wantErr)
				}
				if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q: want ErrMalformed and %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeStorageObject: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestStorageObjectMarshalsInt64sAsStrings(t *testing.T) {
	b, err := json.Marshal(StorageObject{Bucket: "b", Name: "n", Generation: 1712345678901234, Size: 42})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"generation":"1712345678901234"`, `"size":"42"`, `"metageneration":"0"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s: missing %s", b, want)
		}
	}
	if strings.Contains(string(b), "updated") {
		t.Errorf("%s: zero time should be omitted", b)
	}
}

func TestNewEventsRoundTrip(t *testing.T) {
	msg := PubsubMessage{Data: []byte(`{"kind":"started"}`), Attributes: map[string]string{"kind": "started"},
		MessageID: "m1", PublishTime: time.Date(2024, 2, 2, 0, 0, 0, 0, time.UTC)}
	e, err := NewPubSubEvent("projects/p/topics/t", "projects/p/subscriptions/s", msg)
	if err != nil {
		t.Fatal(err)
	}
	if e.Source() != "//pubsub.googleapis.com/projects/p/topics/t" || e.Type() != TypePubSubPublished || e.ID() != "m1" {
		t.Errorf("event context = %s", e.Context)
	}
	got, err := DecodeMessagePublished(e)
	if err != nil {
		t.Fatal(err)
	}
	if want := (MessagePublishedData{Message: msg, Subscription: "projects/p/subscriptions/s"}); !reflect.DeepEqual(got, want) {
		t.Errorf("round trip: got %+v, want %+v", got, want)
	}
	if _, err := NewPubSubEvent("projects/p/topics/t", "", PubsubMessage{Data: []byte("x")}); err == nil {
		t.Error("NewPubSubEvent without a message id: want an error")
	}

	obj := StorageObject{Bucket: "b", Name: "sql/manifest.json", Generation: 99, Size: 12,
		Updated: time.Date(2024, 2, 3, 0, 0, 0, 0, time.UTC)}
	se, err := NewStorageFinalizedEvent(obj)
	if err != nil {
		t.Fatal(err)
	}
	if se.Subject() != "objects/sql/manifest.json" || se.ID() != "b/sql/manifest.json/99" || !se.Time().Equal(obj.Updated) {
		t.Errorf("storage event context = %s", se.Context)
	}
	gotObj, err := DecodeStorageObject(se)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotObj, obj) {
		t.Errorf("round trip: got %+v, want %+v", gotObj, obj)
	}
	if _, err := NewStorageFinalizedEvent(StorageObject{Name: "n"}); err == nil {
		t.Error("NewStorageFinalizedEvent without a bucket: want an error")
	}
}
