package interruption

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gokarpenter/karpenter/pkg/metrics"
)

// Action is what a message asks for.
type Action int

const (
	// NoAction: nothing to do (filtered out or unknown event).
	NoAction Action = iota
	// Event: only emit a Kubernetes event (rebalance recommendation).
	Event
	// CordonAndDrain: delete the NodeClaims of the instances.
	CordonAndDrain
)

// Message is a parsed interruption event.
type Message struct {
	// Kind is the metrics.MessageType* value.
	Kind string
	// InstanceIDs the event is about.
	InstanceIDs []string
	// Time of the event.
	Time   time.Time
	Action Action
}

// ErrUnparseable wraps every parse failure.
var ErrUnparseable = errors.New("unparseable interruption message")

type envelope struct {
	Version    string          `json:"version"`
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Time       time.Time       `json:"time"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

type ec2Detail struct {
	InstanceID string `json:"instance-id"`
	State      string `json:"state"`
}

type healthDetail struct {
	Service           string `json:"service"`
	EventTypeCategory string `json:"eventTypeCategory"`
	AffectedEntities  []struct {
		EntityValue string `json:"entityValue"`
	} `json:"affectedEntities"`
}

// Parse reads an SQS message body (a raw EventBridge event). Events it does not know, and
// known events filtered out (a state change to running, a Health event other than an EC2
// scheduled change), are NoAction messages; malformed bodies are ErrUnparseable.
func Parse(body string) (Message, error) {
	var env envelope
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrUnparseable, err)
	}
	if env.Version == "" || env.Source == "" || env.DetailType == "" {
		return Message{}, fmt.Errorf("%w: no version, source or detail-type", ErrUnparseable)
	}
	msg := Message{Kind: metrics.MessageTypeNoOp, Time: env.Time}
	if env.Version != "0" {
		return msg, nil
	}
	switch env.Source + "|" + env.DetailType {
	case "aws.ec2|EC2 Spot Instance Interruption Warning":
		return withInstance(msg, env, metrics.MessageTypeSpotInterruption, CordonAndDrain)
	case "aws.ec2|EC2 Instance Rebalance Recommendation":
		return withInstance(msg, env, metrics.MessageTypeRebalanceRecommendation, Event)
	case "aws.ec2|EC2 Capacity Reservation Instance Interruption Warning":
		return withInstance(msg, env, metrics.MessageTypeCapacityReservationIntr, CordonAndDrain)
	case "aws.ec2|EC2 Instance State-change Notification":
		var d ec2Detail
		if err := json.Unmarshal(env.Detail, &d); err != nil {
			return Message{}, fmt.Errorf("%w: detail: %v", ErrUnparseable, err)
		}
		switch strings.ToLower(d.State) {
		case "stopping", "stopped":
			return withInstance(msg, env, metrics.MessageTypeInstanceStopped, CordonAndDrain)
		case "shutting-down", "terminated":
			return withInstance(msg, env, metrics.MessageTypeInstanceTerminated, CordonAndDrain)
		}
		return msg, nil
	case "aws.health|AWS Health Event":
		var d healthDetail
		if err := json.Unmarshal(env.Detail, &d); err != nil {
			return Message{}, fmt.Errorf("%w: detail: %v", ErrUnparseable, err)
		}
		if d.Service != "EC2" || d.EventTypeCategory != "scheduledChange" {
			return msg, nil
		}
		msg.Kind, msg.Action = metrics.MessageTypeScheduledChange, CordonAndDrain
		for _, e := range d.AffectedEntities {
			if e.EntityValue != "" {
				msg.InstanceIDs = append(msg.InstanceIDs, e.EntityValue)
			}
		}
		if len(msg.InstanceIDs) == 0 {
			return Message{}, fmt.Errorf("%w: scheduled change names no instance", ErrUnparseable)
		}
		return msg, nil
	}
	return msg, nil
}

func withInstance(msg Message, env envelope, kind string, action Action) (Message, error) {
	var d ec2Detail
	if err := json.Unmarshal(env.Detail, &d); err != nil {
		return Message{}, fmt.Errorf("%w: detail: %v", ErrUnparseable, err)
	}
	if d.InstanceID == "" {
		return Message{}, fmt.Errorf("%w: %s without detail.instance-id", ErrUnparseable, env.DetailType)
	}
	msg.Kind, msg.Action, msg.InstanceIDs = kind, action, []string{d.InstanceID}
	return msg, nil
}
