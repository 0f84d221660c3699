package budget

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// FuzzAllowedDisruptions feeds arbitrary budgets (nodes, cron schedule, duration) to
// AllowedDisruptions: it must never panic (a "TZ=" schedule with a tab, which the CRD's
// pattern admits, crashed the cron parser: see testdata), and what it allows is never
// negative nor, for a percentage, more than the pool's size.
func FuzzAllowedDisruptions(f *testing.F) {
	f.Add("10%", "", int64(0), 10, 0, int64(0))
	f.Add("0", "0 9 * * mon-fri", int64(8*time.Hour), 5, 1, int64(1767258000))
	f.Add("3", "@daily", int64(time.Hour), 100, 2, int64(1767225600))
	f.Add("100%", "*/5 * * * *", int64(time.Minute), 7, 7, int64(0))
	f.Add("-1", "61 * * * *", int64(-time.Hour), 1, 0, int64(0))
	f.Add("1000%", "@every 1h", int64(time.Hour), 3, 0, int64(0))
	f.Add("5", "TZ=Europe/Paris 0 0 * * *", int64(time.Hour), 3, 9, int64(1))
	f.Add("", "0 0 31 2 *", int64(time.Hour), 0, 0, int64(0))
	f.Fuzz(func(t *testing.T, nodes, schedule string, duration int64, total, disrupting int, unix int64) {
		if total < 0 || total > 1<<20 || disrupting < 0 || disrupting > total {
			return
		}
		b := v1.Budget{Nodes: nodes}
		if schedule != "" {
			b.Schedule = &schedule
			b.Duration = &metav1.Duration{Duration: time.Duration(duration)}
		}
		pool := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "fuzz"}}
		pool.Spec.Disruption.Budgets = []v1.Budget{b}
		now := time.Unix(unix%(1<<34), 0).UTC()
		allowed, err := AllowedDisruptions(pool, v1.DisruptionReasonEmpty, total, disrupting, now)
		if err != nil {
			return
		}
		if allowed < 0 || (strings.HasSuffix(nodes, "%") && allowed > total) {
			t.Fatalf("budget %q schedule %q: %d of %d nodes allowed", nodes, schedule, allowed, total)
		}
	})
}
