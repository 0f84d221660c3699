package operator_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/nodeclaim/lifecycle"
	"github.com/gokarpenter/karpenter/pkg/operator"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// TestRegistrationTTLSetting: with REGISTRATION_TTL shortened, the operator on the simulated
// cloud deletes a NodeClaim whose instance never registers a Node once the TTL has passed,
// says why (a RegistrationTimeout event), and terminates the instance: none is leaked. With
// upstream's fixed 15 minutes this would not happen within the test.
func TestRegistrationTTLSetting(t *testing.T) {
	test.RequireEnvironment(t, env)
	ctx := test.Context(t)
	opts := operator.DefaultOptions()
	o, err := parse(t, map[string]string{"REGISTRATION_TTL": "3s"})
	if err != nil {
		t.Fatal(err)
	}
	opts.RegistrationTTL = o.RegistrationTTL
	opts.MetricsAddr, opts.HealthAddr, opts.LeaderElection = "0", "0", false
	opts.SkipControllerNameValidation = true
	class := &simv1alpha1.SimNodeClass{ObjectMeta: metav1.ObjectMeta{Name: "never-registers"}, Spec: simv1alpha1.SimNodeClassSpec{FailRegistration: true}}
	if err := env.Client.Create(ctx, class); err != nil {
		t.Fatal(err)
	}
	runOperator(t, opts, func() {
		_ = env.Client.Delete(context.Background(), class)
		_ = env.Client.DeleteAllOf(context.Background(), &simv1alpha1.SimInstance{})
	})
	nc := &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "unregistered", Labels: map[string]string{v1.NodePoolLabelKey: "none"}},
		Spec: v1.NodeClaimSpec{
			Requirements: []v1.NodeSelectorRequirementWithMinValues{{Key: v1.LabelInstanceType, Operator: v1.NodeSelectorOpIn, Values: []string{"m7i.large"}}},
			NodeClassRef: &v1.NodeClassReference{Group: simv1alpha1.Group, Kind: simv1alpha1.KindSimNodeClass, Name: class.Name},
		},
	}
	if err := env.Client.Create(ctx, nc); err != nil {
		t.Fatal(err)
	}
	created := nc.CreationTimestamp.Time // whole seconds, as the lifecycle controller reads it
	var instance string
	test.Eventually(t, 0, func() error { // the instance launched
		var list simv1alpha1.SimInstanceList
		if err := env.Client.List(ctx, &list); err != nil {
			return err
		}
		for _, inst := range list.Items {
			if inst.Spec.NodeClaimUID == string(nc.UID) {
				instance = inst.Name
				return nil
			}
		}
		return fmt.Errorf("no instance for %s yet", nc.Name)
	})
	test.Eventually(t, 0, func() error { // the nodeclaim and its instance gone
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(nc), &v1.NodeClaim{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("nodeclaim still there (%v)", err)
		}
		err = env.Client.Get(ctx, client.ObjectKey{Name: instance}, &simv1alpha1.SimInstance{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("instance %s still there (%v)", instance, err)
		}
		return nil
	})
	if gone := time.Since(created); gone < 3*time.Second {
		t.Errorf("nodeclaim gone after %v, before the 3s TTL", gone)
	}
	test.Eventually(t, 0, func() error { // a RegistrationTimeout event
		var events corev1.EventList
		if err := env.Client.List(ctx, &events, client.InNamespace("default")); err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.Reason == lifecycle.EventRegistrationTimeout && e.InvolvedObject.UID == nc.UID {
				return nil
			}
		}
		return fmt.Errorf("no %s event among %d", lifecycle.EventRegistrationTimeout, len(events.Items))
	})
}
