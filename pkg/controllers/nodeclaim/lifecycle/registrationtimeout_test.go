package lifecycle_test

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lc "github.com/gokarpenter/karpenter/pkg/controllers/nodeclaim/lifecycle"
)

// TestRegistrationTimeoutIsACondition: a NodeClaim that outlives the registration TTL says so
// in its Registered (False, RegistrationTimeout) and Ready conditions while it is deleted.
func TestRegistrationTimeoutIsACondition(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.create(newNodeClaim("slow"))
	h.condition("slow", lc.ConditionRegistered, metav1.ConditionUnknown, lc.ReasonNodeNotFound)
	h.clk.Step(16 * time.Minute)
	h.touch("slow")
	h.eventually(func() error {
		nc, err := h.get("slow")
		if err != nil {
			return err
		}
		reg := meta.FindStatusCondition(nc.Status.Conditions, lc.ConditionRegistered)
		if nc.DeletionTimestamp == nil || reg == nil || reg.Status != metav1.ConditionFalse || reg.Reason != lc.ReasonRegistrationTimeout {
			return fmt.Errorf("deleting %v, Registered %+v", nc.DeletionTimestamp != nil, reg)
		}
		if !meta.IsStatusConditionFalse(nc.Status.Conditions, lc.ConditionReady) {
			return fmt.Errorf("Ready is not False: %+v", nc.Status.Conditions)
		}
		return nil
	})
}
