package interruption

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider/aws/internal/testdata"
	"github.com/gokarpenter/karpenter/pkg/metrics"
)

// sharedEvents reads the examples of ../shared/data/interruption-events.json.
func sharedEvents(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	path, err := testdata.File("interruption-events.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Events []struct {
			KarpenterKind string          `json:"karpenterKind"`
			Example       json.RawMessage `json:"example"`
		} `json:"events"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	out := map[string]json.RawMessage{}
	for _, e := range f.Events {
		out[e.KarpenterKind] = e.Example
	}
	return out
}

// TestParseSharedEvents parses every example of the shared file.
func TestParseSharedEvents(t *testing.T) {
	events := sharedEvents(t)
	want := map[string]struct {
		kind   string
		action Action
	}{
		"spot_interrupted":         {metrics.MessageTypeSpotInterruption, CordonAndDrain},
		"rebalance_recommendation": {metrics.MessageTypeRebalanceRecommendation, Event},
		"instance_stopped (stopping|stopped) or instance_terminated (shutting-down|terminated)": {metrics.MessageTypeInstanceTerminated, CordonAndDrain},
		"scheduled_change":                 {metrics.MessageTypeScheduledChange, CordonAndDrain},
		"capacity_reservation_interrupted": {metrics.MessageTypeCapacityReservationIntr, CordonAndDrain},
	}
	if len(events) != len(want) {
		t.Fatalf("the shared file has %d events, the table %d: %v", len(events), len(want), slices.Collect(mapsKeys(events)))
	}
	for key, body := range events {
		w, ok := want[key]
		if !ok {
			t.Errorf("no expectation for %q", key)
			continue
		}
		msg, err := Parse(string(body))
		if err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		if msg.Kind != w.kind || msg.Action != w.action || !slices.Equal(msg.InstanceIDs, []string{"i-1234567890abcdef0"}) || msg.Time.IsZero() {
			t.Errorf("%s: %+v, want kind %s action %d on i-1234567890abcdef0", key, msg, w.kind, w.action)
		}
	}
}

func mapsKeys(m map[string]json.RawMessage) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestParseVariants(t *testing.T) {
	state := func(s string) string {
		return `{"version":"0","source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","time":"2026-01-02T03:04:05Z","detail":{"instance-id":"i-1","state":"` + s + `"}}`
	}
	health := func(service, category string) string {
		return `{"version":"0","source":"aws.health","detail-type":"AWS Health Event","detail":{"service":"` + service + `","eventTypeCategory":"` + category + `","affectedEntities":[{"entityValue":"i-1"},{"entityValue":"i-2"}]}}`
	}
	cases := []struct {
		name, body string
		kind       string
		action     Action
		ids        []string
		unparsable bool
	}{
		{name: "stopping", body: state("stopping"), kind: metrics.MessageTypeInstanceStopped, action: CordonAndDrain, ids: []string{"i-1"}},
		{name: "Stopped any case", body: state("Stopped"), kind: metrics.MessageTypeInstanceStopped, action: CordonAndDrain, ids: []string{"i-1"}},
		{name: "terminated", body: state("terminated"), kind: metrics.MessageTypeInstanceTerminated, action: CordonAndDrain, ids: []string{"i-1"}},
		{name: "running is a no-op", body: state("running"), kind: metrics.MessageTypeNoOp},
		{name: "pending is a no-op", body: state("pending"), kind: metrics.MessageTypeNoOp},
		{name: "health scheduled change, two instances", body: health("EC2", "scheduledChange"), kind: metrics.MessageTypeScheduledChange, action: CordonAndDrain, ids: []string{"i-1", "i-2"}},
		{name: "health issue is a no-op", body: health("EC2", "issue"), kind: metrics.MessageTypeNoOp},
		{name: "health of another service is a no-op", body: health("RDS", "scheduledChange"), kind: metrics.MessageTypeNoOp},
		{name: "unknown detail type", body: `{"version":"0","source":"aws.ec2","detail-type":"EC2 AMI State Change","detail":{}}`, kind: metrics.MessageTypeNoOp},
		{name: "other version", body: `{"version":"1","source":"aws.ec2","detail-type":"EC2 Spot Instance Interruption Warning","detail":{"instance-id":"i-1"}}`, kind: metrics.MessageTypeNoOp},
		{name: "not JSON", body: "hello", unparsable: true},
		{name: "no envelope", body: `{"a":1}`, unparsable: true},
		{name: "spot without instance", body: `{"version":"0","source":"aws.ec2","detail-type":"EC2 Spot Instance Interruption Warning","detail":{}}`, unparsable: true},
		{name: "detail not an object", body: `{"version":"0","source":"aws.ec2","detail-type":"EC2 Spot Instance Interruption Warning","detail":"x"}`, unparsable: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := Parse(tc.body)
			if tc.unparsable {
				if !errors.Is(err, ErrUnparseable) {
					t.Fatalf("Parse = %+v, %v; want ErrUnparseable", msg, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg.Kind != tc.kind || msg.Action != tc.action || !slices.Equal(msg.InstanceIDs, tc.ids) {
				t.Errorf("Parse = %+v, want %s %d %v", msg, tc.kind, tc.action, tc.ids)
			}
		})
	}
}
