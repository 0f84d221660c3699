package test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// nsCounter keeps namespace names unique within a test binary.
var nsCounter atomic.Int64

// Name turns the test's name into a lower-case DNS label (at most 40 characters) with a
// counter, unique within the test binary.
func Name(t testing.TB) string {
	n := strings.ToLower(t.Name())
	n = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		return '-'
	}, n)
	if len(n) > 32 {
		n = n[len(n)-32:]
	}
	return strings.Trim(fmt.Sprintf("%s-%d", strings.Trim(n, "-"), nsCounter.Add(1)), "-")
}

// Namespace creates a namespace named after the test; when the test ends, its pods lose
// their finalizers and are force-deleted, then the namespace is deleted.
func (e *Environment) Namespace(t testing.TB) string {
	t.Helper()
	name := Name(t)
	ctx := context.Background()
	if err := e.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		pods := &corev1.PodList{}
		if err := e.Client.List(ctx, pods, client.InNamespace(name)); err == nil {
			for i := range pods.Items {
				_ = e.Client.Delete(ctx, &pods.Items[i], client.GracePeriodSeconds(0))
			}
		}
		_ = e.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	})
	return name
}

// Cleanup deletes every object of the list's kind (cluster-scoped, or in every namespace),
// stripping finalizers first, and waits up to 30 seconds until none is left. Use it between
// tests for NodeClaims, Nodes and NodePools: env.Cleanup(t, &v1.NodeClaimList{}).
func (e *Environment) Cleanup(t testing.TB, lists ...client.ObjectList) {
	t.Helper()
	ctx := context.Background()
	strip := client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`))
	for _, list := range lists {
		if err := e.Client.List(ctx, list); err != nil {
			t.Errorf("listing for cleanup: %v", err)
			continue
		}
		objs, err := metaItems(list)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			continue
		}
		for _, o := range objs {
			_ = e.Client.Patch(ctx, o, strip)
			_ = e.Client.Delete(ctx, o, client.GracePeriodSeconds(0))
		}
		err = Poll(30*time.Second, func() error {
			if err := e.Client.List(ctx, list); err != nil {
				return err
			}
			objs, err := metaItems(list)
			if err != nil {
				return err
			}
			if len(objs) > 0 {
				for _, o := range objs {
					_ = e.Client.Patch(ctx, o, strip)
				}
				return fmt.Errorf("%d objects left, first %s", len(objs), objs[0].GetName())
			}
			return nil
		})
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
}
