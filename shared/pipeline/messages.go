package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/bqbackfill/bqbackfill/shared/backfill"

	"github.com/bqbackfill/bqbackfill/shared/message"
)

// PartitionMessage is the data of one message on the partitions topic.
type PartitionMessage struct {
	BackfillID string `json:"backfill_id"`
	Table      string `json:"table"`
	EntryDate  string `json:"entry_date"`
	Partition  string `json:"partition"` // ledger partition id
	Date       string `json:"date"`      // the partition's enumerated date
}

// CompleteRequest is the data of one message on the completion topic.
type CompleteRequest struct {
	BackfillID string `json:"backfill_id"`
}

// Publisher publishes messages to topics by id.
type Publisher interface {
	Publish(ctx context.Context, topic string, msgs ...message.Message) error
}

// Topics names the topics the pipeline publishes to.
type Topics struct {
	Partitions string
	Complete   string
	Events     string
	DeadLetter string
}

func partitionMessage(s *Spec, p backfill.Partition) message.Message {
	id, pid := s.ID(), PartitionID(p)
	data, _ := json.Marshal(PartitionMessage{BackfillID: id, Table: s.Table.String(), EntryDate: s.EntryDate.String(), Partition: pid, Date: p.Date.String()})
	return message.Message{Data: data, Attributes: map[string]string{"backfill_id": id, "partition": pid}}
}

func decodePartitionMessage(data []byte) (PartitionMessage, error) {
	var m PartitionMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("partition message is not JSON: %w", err)
	}
	if m.BackfillID == "" || m.Partition == "" {
		return m, fmt.Errorf("partition message lacks backfill_id or partition: %s", data)
	}
	return m, nil
}

// DecodeCompleteRequest decodes a completion request.
func DecodeCompleteRequest(data []byte) (CompleteRequest, error) {
	var r CompleteRequest
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("completion request is not JSON: %w", err)
	}
	if r.BackfillID == "" {
		return r, fmt.Errorf("completion request lacks backfill_id: %s", data)
	}
	return r, nil
}

func completeMessage(id string) message.Message {
	data, _ := json.Marshal(CompleteRequest{BackfillID: id})
	return message.Message{Data: data, Attributes: map[string]string{"backfill_id": id}}
}
