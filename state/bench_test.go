package state

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/salesbridge/salesbridge/salesapi"
)

// benchRaw is an order of about the size the API sends (~1.3 KB compact).
func benchRaw(id int64, rev uint64) []byte {
	return fmt.Appendf(nil, `{"id":%d,"number":"Z-%d","status":1,"clientName":"Иванов Иван Иванович",`+
		`"clientEmail":"ivanov@example.ru","clientPhone":"+79990000000","clientComment":%q,"comment":"rev %d",`+
		`"price":6100000,"finalPrice":null,"createdAt":"2025-03-01T09:00:00.000Z",`+
		`"object":{"externalId":12345,"name":"ЖК Пример","address":"г. Москва, ул. Примерная, д. 1"},`+
		`"flat":{"id":777,"id_ods":"kv-77","number":"77","entrance":"2","floor":7},`+
		`"statusChanges":[{"id":9001,"status":0,"createdAt":"2025-03-01T09:00:00.000Z"},{"id":9002,"status":1,"createdAt":"2025-03-01T10:00:00.000Z"}],`+
		`"priceChanges":[{"id":501,"price":6100000,"createdAt":"2025-03-01T09:00:00.000Z"}]}`,
		id, id, strings.Repeat("хочу квартиру ", 20), rev)
}

// BenchmarkApply100 applies batches of 100 order snapshots and 100 outbox
// messages (~1.3 KB and ~1.6 KB) with fsync, as in production. Orders cycle
// through 5 000 ids, so after the first 50 batches every batch updates stored
// orders. A relay acknowledges messages as they come, so the outbox stays
// short, as it does in steady state.
func BenchmarkApply100(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const perBatch, pool = 100, 5000
	revs := make(map[int64]uint64, pool)
	next := int64(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		batch := Batch{Cursors: map[string][]byte{"plan": fmt.Appendf(nil, "%d", i)}}
		for range perBatch {
			id := next%pool + 1
			next++
			revs[id]++
			raw := benchRaw(id, revs[id])
			batch.Orders = append(batch.Orders, Order{ID: id, Rev: revs[id], Status: salesapi.StatusProgress, CreatedAt: epoch, Raw: raw})
			batch.Messages = append(batch.Messages, Message{
				Subject: fmt.Sprintf("salesbridge.order.updated.%d", id),
				Header:  map[string]string{"Nats-Msg-Id": fmt.Sprintf("order/%d/updated/%d", id, revs[id]), "Content-Type": "application/cloudevents+json"},
				Data:    append([]byte(`{"specversion":"1.0","type":"order.updated","data":{"order":`), raw...),
			})
		}
		if i > 0 { // the relay keeps up: acknowledge the previous batch
			seqs := make([]uint64, perBatch)
			for j := range seqs {
				seqs[j] = uint64((i-1)*perBatch + j + 1)
			}
			if err := s.Ack(seqs...); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if err := s.Apply(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/batch")
	b.ReportMetric(float64(b.N*perBatch)/b.Elapsed().Seconds(), "orders/s")
}

// BenchmarkPendingAck measures the relay's side: read 100 pending messages
// and acknowledge them (one read and one fsynced write transaction).
func BenchmarkPendingAck(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const perRound = 100
	fill := func() {
		batch := Batch{}
		for j := range 10 * perRound {
			batch.Messages = append(batch.Messages, Message{
				Subject: "salesbridge.order.updated.1",
				Header:  map[string]string{"Nats-Msg-Id": fmt.Sprint(j)},
				Data:    benchRaw(1, uint64(j)),
			})
		}
		if err := s.Apply(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msgs, err := s.Pending(0, perRound)
		if err != nil {
			b.Fatal(err)
		}
		if len(msgs) < perRound {
			b.StopTimer()
			fill()
			b.StartTimer()
			i--
			continue
		}
		seqs := make([]uint64, len(msgs))
		for j, m := range msgs {
			seqs[j] = m.Seq
		}
		if err := s.Ack(seqs...); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*perRound)/b.Elapsed().Seconds(), "msgs/s")
}
