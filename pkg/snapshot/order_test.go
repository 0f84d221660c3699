package snapshot_test

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gokarpenter/karpenter/pkg/snapshot"
)

func TestNaturalCompare(t *testing.T) {
	got := []string{"web-10", "web-2", "web-1", "api", "web-02", "web-", "web-1a", "web-1-3", "b", "a10b", "a9c"}
	slices.SortFunc(got, snapshot.NaturalCompare)
	want := []string{"a9c", "a10b", "api", "b", "web-", "web-1", "web-1-3", "web-1a", "web-2", "web-02", "web-10"}
	if !slices.Equal(got, want) {
		t.Errorf("sorted = %v, want %v", got, want)
	}
}

func TestComparePods(t *testing.T) {
	at := func(ns, name string, sec int) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			CreationTimestamp: metav1.NewTime(time.Unix(int64(sec), 0))}}
	}
	pods := []*corev1.Pod{at("b", "x-1", 1), at("a", "x-10", 1), at("a", "x-9", 1), at("z", "old", 0)}
	slices.SortFunc(pods, snapshot.ComparePods)
	var got []string
	for _, p := range pods {
		got = append(got, p.Namespace+"/"+p.Name)
	}
	if want := []string{"z/old", "a/x-9", "a/x-10", "b/x-1"}; !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}
