package explain

import (
	"context"
	"errors"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/controllers/provisioning"
	"github.com/gokarpenter/karpenter/pkg/explain/reason"
	"github.com/gokarpenter/karpenter/pkg/state"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// TestReadsWhatTheProvisionerWrites runs one round of the real provisioner, with its events
// written to the API server, and checks that explain reads them back: the pod it nominated
// shows the NodeClaim it created, and the pod it could not place has a FailedScheduling
// event whose message is exactly explain's summary. The event reasons are the vocabulary's.
func TestReadsWhatTheProvisionerWrites(t *testing.T) {
	if reason.EventFailedScheduling != provisioning.ReasonFailedScheduling || reason.EventNominated != provisioning.ReasonNominated {
		t.Fatalf("the provisioner's event reasons (%s, %s) are not the vocabulary's", provisioning.ReasonFailedScheduling, provisioning.ReasonNominated)
	}
	c := newCluster(t)
	c.create(nodePool("general"))
	c.pendingPod("fits", "1")
	c.pendingPod("arm", "1", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{v1.LabelArch: v1.ArchitectureArm64} })

	clientset, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	broadcaster := record.NewBroadcaster()
	defer broadcaster.Shutdown()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: clientset.CoreV1().Events("")})
	informers, err := cache.New(env.Config, cache.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	cluster := state.NewCluster(state.Options{})
	if err := cluster.Register(c.ctx, informers); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(c.ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = informers.Start(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	ctrl := provisioning.NewController(provisioning.Deps{
		Client: env.Client, Cluster: cluster, CloudProvider: fake.New(fake.Options{InstanceTypes: catalog.Default()}),
		Recorder: broadcaster.NewRecorder(env.Scheme, corev1.EventSource{Component: "karpenter"}),
	})
	test.Eventually(t, 0, func() error {
		if !cluster.Synced() || len(cluster.PendingPods()) < 2 {
			return errors.New("waiting for the cluster state to see both pods")
		}
		return nil
	})
	res, err := ctrl.Provision(c.ctx)
	if err != nil || len(res.NodeClaims) != 1 || len(res.Unschedulable) != 1 {
		t.Fatalf("provisioning: %v, %d NodeClaims, %d unschedulable", err, len(res.NodeClaims), len(res.Unschedulable))
	}
	created := res.NodeClaims[0].Name

	var w *World
	var failed *corev1.Event
	test.Eventually(t, 0, func() error {
		w, failed = c.world(), nil
		var events corev1.EventList
		if err := env.Client.List(c.ctx, &events, client.InNamespace(c.ns), client.MatchingFields{"reason": reason.EventFailedScheduling}); err != nil {
			return err
		}
		for i, e := range events.Items {
			if e.InvolvedObject.Name == "arm" {
				failed = &events.Items[i]
			}
		}
		if failed == nil || len(w.Nominations(failed.LastTimestamp.Time)[created]) == 0 {
			return errors.New("waiting for the provisioner's events")
		}
		return nil
	})
	now := failed.LastTimestamp.Time
	fits := must[*PodReport](t)(Pod(w, c.ns, "fits", now))
	if fits.NominatedTo == nil || fits.NominatedTo.Name != created {
		t.Errorf("fits: nominated to %+v, want the NodeClaim %s the provisioner created", fits.NominatedTo, created)
	}
	arm := must[*PodReport](t)(Pod(w, c.ns, "arm", now))
	if got := reason.FailedSchedulingMessage(arm.Summary); got != failed.Message {
		t.Errorf("explain says %q, the event says %q", got, failed.Message)
	}
	if v := verdictFor(t, arm, "general"); v.Reason != reason.Requirement {
		t.Errorf("arm on general: %s %q", v.Reason, v.Message)
	}
}
