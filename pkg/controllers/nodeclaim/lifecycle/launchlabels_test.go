package lifecycle_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/providerid"
	lc "github.com/gokarpenter/karpenter/pkg/controllers/nodeclaim/lifecycle"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// TestLaunchLabelsSurviveAFailedWrite: the write that puts the instance's labels
// (instance type, zone, capacity type) on the NodeClaim fails once, as a conflict or a
// restart between the two writes of a launch would. The labels must still arrive: they
// are what registration copies onto the Node and what the scheduler and metrics read.
func TestLaunchLabelsSurviveAFailedWrite(t *testing.T) {
	h := newHarness(t)
	var failed atomic.Bool
	mgr := env.NewManager(t, func(o *manager.Options) {
		o.NewClient = func(cfg *rest.Config, opts client.Options) (client.Client, error) {
			c, err := client.NewWithWatch(cfg, opts)
			if err != nil {
				return nil, err
			}
			return interceptor.NewClient(c, interceptor.Funcs{
				Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
					if _, ok := obj.(*v1.NodeClaim); ok && obj.GetLabels()[v1.LabelInstanceType] != "" && failed.CompareAndSwap(false, true) {
						return apierrors.NewConflict(schema.GroupResource{Group: v1.SchemeGroupVersion.Group, Resource: "nodeclaims"}, obj.GetName(), fmt.Errorf("injected"))
					}
					return c.Patch(ctx, obj, patch, opts...)
				},
			}), nil
		}
	})
	if err := providerid.Index(h.ctx, mgr.GetFieldIndexer()); err != nil {
		t.Fatal(err)
	}
	ctrl := lc.NewController(lc.Deps{Client: mgr.GetClient(), CloudProvider: h.cloud, Recorder: h.recorder, Clock: h.clk})
	if err := ctrl.Register(h.ctx, mgr); err != nil {
		t.Fatal(err)
	}
	test.RunManager(t, mgr)

	h.create(newNodeClaim("labelled"))
	h.condition("labelled", lc.ConditionLaunched, metav1.ConditionTrue, lc.ReasonLaunched)
	h.eventually(func() error {
		nc, err := h.get("labelled")
		if err != nil {
			return err
		}
		if nc.Labels[v1.LabelInstanceType] != "small" {
			return fmt.Errorf("labels %v lack the instance's %s", nc.Labels, v1.LabelInstanceType)
		}
		return nil
	})
	if !failed.Load() {
		t.Fatal("the label write was never attempted")
	}
	if n := len(h.cloud.Calls(fake.MethodCreate)); n != 1 {
		t.Errorf("%d Create calls, want 1", n)
	}
}
