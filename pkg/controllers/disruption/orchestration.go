package disruption

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/createonce"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/pods"
	"github.com/gokarpenter/karpenter/pkg/controllers/provisioning"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
)

// Annotations a command leaves on its NodeClaims, so that a restarted controller finds it
// again: the candidates and the replacements carry the command's id and their role.
const (
	CommandAnnotationKey = v1.Group + "/disruption-command"
	RoleAnnotationKey    = v1.Group + "/disruption-role"
	ReasonAnnotationKey  = v1.Group + "/disruption-reason"
	RoleCandidate        = "candidate"
	RoleReplacement      = "replacement"
)

// Event reasons.
const (
	EventLaunching         = "DisruptionLaunching"
	EventWaitingReadiness  = "DisruptionWaitingReadiness"
	EventTerminating       = "DisruptionTerminating"
	EventAbandoned         = "DisruptionAbandoned"
	EventConsolidationOkay = "ConsolidationApproved"
)

type phase int

const (
	// phaseWaiting: candidates tainted, replacements launching; not yet validated.
	phaseWaiting phase = iota
	// phaseDraining: candidates deleted; replacements protected until they are gone and
	// the pods had time to land.
	phaseDraining
)

// inflight is a command being executed.
type inflight struct {
	id           string
	reason       v1.DisruptionReason
	ctype        string
	why          string
	candidates   []string // NodeClaim names
	replacements []string // NodeClaim names
	startedAt    time.Time
	phase        phase
	deleted      map[string]bool // candidates whose delete the API server accepted
	// drainingSince is when the candidates were first deleted; refused[name] the last
	// error a candidate's delete met (see releaseRefused).
	drainingSince time.Time
	refused       map[string]string
	goneAt        time.Time
	waitedEvent   bool
}

func (c *Controller) sortedCommands() []*inflight {
	out := slices.Collect(maps.Values(c.commands))
	slices.SortFunc(out, func(a, b *inflight) int { return cmp.Compare(a.id, b.id) })
	return out
}

// start executes the first steps of a command: annotate and taint the candidates, launch
// the replacements. On any failure it undoes what it did.
func (c *Controller) start(ctx context.Context, p *pass, cmd *Command) error {
	f := &inflight{id: c.newID(p.now), reason: cmd.Reason, ctype: cmd.ConsolidationType, why: cmd.Why, startedAt: p.now}
	logger := log.FromContext(ctx).WithValues("command", f.id, "method", cmd.Method, "decision", cmd.Decision(), "candidates", cmd.names())
	logger.Info("disrupting", "reason", cmd.Why, "replacements", len(cmd.Replacements), "savings", cmd.Savings)
	for _, cand := range cmd.Candidates {
		f.candidates = append(f.candidates, cand.Name())
		if err := c.mark(ctx, cand.NodeClaim, f.id, RoleCandidate, cmd.Reason); err != nil {
			return errors.Join(err, c.abort(ctx, p, f, "marking failed", false))
		}
		if err := c.taint(ctx, cand.Node.Name); err != nil {
			return errors.Join(err, c.abort(ctx, p, f, "tainting failed", false))
		}
	}
	for _, planned := range cmd.Replacements {
		pool := p.pools[planned.NodePool]
		if pool == nil {
			return errors.Join(fmt.Errorf("launching a replacement: nodepool %s is gone", planned.NodePool), c.abort(ctx, p, f, "nodepool gone", true))
		}
		nc := provisioning.NodeClaimFor(pool, planned)
		if nc.Annotations == nil {
			nc.Annotations = map[string]string{}
		}
		nc.Annotations[CommandAnnotationKey] = f.id
		nc.Annotations[RoleAnnotationKey] = RoleReplacement
		nc.Annotations[ReasonAnnotationKey] = string(cmd.Reason)
		// The name is fixed and recorded before the create: a create whose outcome is unknown
		// may have been stored, and abort must then find it to delete it.
		createonce.FixName(nc)
		f.replacements = append(f.replacements, nc.Name)
		if err := createonce.Create(ctx, c.kube, nc); err != nil {
			return errors.Join(fmt.Errorf("launching a replacement nodeclaim: %w", err), c.abort(ctx, p, f, "launching failed", true))
		}
		c.cluster.UpdateNodeClaim(nc)
		logger.Info("launched replacement", "nodeclaim", nc.Name, "cheapest", planned.Cheapest.InstanceType, "price", planned.Cheapest.Price)
	}
	for _, cand := range cmd.Candidates {
		p.ledger.Take(cand.NodePool.Name, 1)
		msg := "Disrupting: " + cmd.Why
		if len(f.replacements) > 0 {
			msg = fmt.Sprintf("Launching NodeClaim %v to replace the node: %s", f.replacements, cmd.Why)
			c.recorder.Event(cand.NodeClaim, corev1.EventTypeNormal, EventLaunching, msg)
			c.recorder.Event(cand.Node, corev1.EventTypeNormal, EventLaunching, msg)
		}
		if cmd.balanced {
			approved := fmt.Sprintf("Balanced consolidation approved with score %.2f: %s", cmd.score, cmd.Why)
			c.recorder.Event(cand.NodeClaim, corev1.EventTypeNormal, EventConsolidationOkay, approved)
			c.recorder.Event(cand.Node, corev1.EventTypeNormal, EventConsolidationOkay, approved)
		}
	}
	if cmd.balanced {
		pool := cmd.Candidates[0].NodePool.Name
		c.metrics.ConsolidationScore.WithLabelValues("approved", pool, string(v1.ConsolidationPolicyBalanced)).Observe(cmd.score)
		c.metrics.ConsolidationMoves.WithLabelValues("approved", pool, string(v1.ConsolidationPolicyBalanced)).Inc()
	}
	for _, s := range p.rejectedScores {
		c.metrics.ConsolidationScore.WithLabelValues("rejected", s.pool, string(v1.ConsolidationPolicyBalanced)).Observe(s.score)
		c.metrics.ConsolidationMoves.WithLabelValues("rejected", s.pool, string(v1.ConsolidationPolicyBalanced)).Inc()
	}
	c.metrics.Decisions.WithLabelValues(cmd.Decision(), reasonLabel(cmd.Reason), cmd.ConsolidationType).Inc()
	c.commands[f.id] = f
	return nil
}

// newID names a new command uniquely among those in flight, including those a restart
// recovered (a restarted process counts from 1 again, possibly within the same second).
func (c *Controller) newID(now time.Time) string {
	for {
		c.seq++
		if id := fmt.Sprintf("%d-%d", now.Unix(), c.seq); c.commands[id] == nil {
			return id
		}
	}
}

// advance moves an in-flight command on: wait for the replacements to initialize and the
// validation TTL to pass, validate against the pass's fresh state, then delete the
// candidates; later forget the command once its candidates are gone.
func (c *Controller) advance(ctx context.Context, p *pass, f *inflight, res *Result) error {
	logger := log.FromContext(ctx).WithValues("command", f.id, "candidates", f.candidates)
	byName := map[string]*v1.NodeClaim{}
	for _, nc := range p.claims {
		byName[nc.Name] = nc
	}
	if f.phase == phaseDraining {
		// A candidate whose delete failed (a 5xx, 429, a webhook's denial) is deleted again,
		// or it would keep its taint and its share of the budget until a restart.
		err := c.deleteCandidates(ctx, p, f, byName, res)
		if f.drainingSince.IsZero() {
			f.drainingSince = p.now // resumed after a restart
		}
		if p.now.Sub(f.drainingSince) >= c.opts.DeleteTimeout {
			err = errors.Join(err, c.releaseRefused(ctx, p, f, byName, res))
		}
		if err != nil {
			return err
		}
		if slices.ContainsFunc(f.candidates, func(n string) bool { return byName[n] != nil }) {
			return nil
		}
		if f.goneAt.IsZero() {
			f.goneAt = p.now
		}
		if p.now.Sub(f.goneAt) < c.opts.Settle {
			return nil
		}
		delete(c.commands, f.id)
		return c.unmarkAll(ctx, f.replacements)
	}
	for _, name := range f.replacements {
		nc := byName[name]
		switch {
		case nc == nil || !nc.DeletionTimestamp.IsZero():
			res.Aborted = append(res.Aborted, f.id)
			return c.abort(ctx, p, f, fmt.Sprintf("replacement %s is gone", name), true)
		case !initialized(nc):
			if p.now.Sub(f.startedAt) > c.opts.ReplacementTimeout {
				res.Aborted = append(res.Aborted, f.id)
				return c.abort(ctx, p, f, fmt.Sprintf("replacement %s did not initialize within %s", name, c.opts.ReplacementTimeout), true)
			}
			if !f.waitedEvent {
				f.waitedEvent = true
				for _, cn := range f.candidates {
					if cand := byName[cn]; cand != nil {
						c.recorder.Event(cand, corev1.EventTypeNormal, EventWaitingReadiness, "Waiting on readiness of the replacements to continue disruption")
					}
				}
			}
			return nil
		}
	}
	if p.now.Sub(f.startedAt) < c.opts.ValidationTTL {
		return nil
	}
	if why := c.validate(p, f, byName); why != "" {
		logger.Info("abandoning disruption, the decision no longer holds", "reason", why)
		res.Aborted = append(res.Aborted, f.id)
		return c.abort(ctx, p, f, why, false)
	}
	f.phase = phaseDraining
	f.drainingSince = p.now
	return c.deleteCandidates(ctx, p, f, byName, res)
}

// deleteCandidates deletes the command's candidates not yet deleted: all of them when the
// command has just been validated, later those whose delete failed and that still exist
// and are not being deleted by another actor.
func (c *Controller) deleteCandidates(ctx context.Context, p *pass, f *inflight, byName map[string]*v1.NodeClaim, res *Result) error {
	logger := log.FromContext(ctx).WithValues("command", f.id, "candidates", f.candidates)
	if f.deleted == nil {
		f.deleted = map[string]bool{}
	}
	var errs []error
	for _, name := range f.candidates {
		nc := byName[name]
		if f.deleted[name] || nc == nil || !nc.DeletionTimestamp.IsZero() {
			continue
		}
		if err := c.kube.Delete(ctx, nc, client.Preconditions{UID: &nc.UID}); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting nodeclaim %s: %w", name, err))
			if f.refused == nil {
				f.refused = map[string]string{}
			}
			f.refused[name] = err.Error()
			continue
		}
		f.deleted[name] = true
		res.Deleted = append(res.Deleted, name)
		msg := "Disrupting NodeClaim: " + f.why
		c.recorder.Event(nc, corev1.EventTypeNormal, EventTerminating, msg)
		if node := p.nodeOf[name]; node != nil {
			c.recorder.Event(node, corev1.EventTypeNormal, EventTerminating, "Disrupting Node: "+f.why)
		}
		c.metrics.NodeClaimsDisrupted.WithLabelValues(reasonLabel(f.reason), nc.Labels[v1.NodePoolLabelKey], nc.Labels[v1.CapacityTypeLabelKey]).Inc()
		logger.Info("deleting disrupted nodeclaim", "nodeclaim", klog.KObj(nc))
	}
	return errors.Join(errs...)
}

// releaseRefused gives up the candidates whose delete has been refused since the command
// started draining DeleteTimeout ago: a denial that no retry fixes must not keep a node
// tainted and its share of the budget forever. Each is untainted and unmarked, with an
// event saying why, and leaves the command; the others go on. It is not a candidate again
// for DeleteTimeout.
func (c *Controller) releaseRefused(ctx context.Context, p *pass, f *inflight, byName map[string]*v1.NodeClaim, res *Result) error {
	var errs []error
	keep := f.candidates[:0:0]
	for _, name := range f.candidates {
		nc := byName[name]
		if f.deleted[name] || nc == nil || !nc.DeletionTimestamp.IsZero() {
			keep = append(keep, name)
			continue
		}
		why := fmt.Sprintf("its delete was refused for %s: %s", c.opts.DeleteTimeout, f.refused[name])
		log.FromContext(ctx).Info("giving up a disruption candidate", "command", f.id, "nodeclaim", name, "reason", why)
		if node := p.nodeOf[name]; node != nil {
			errs = append(errs, c.untaint(ctx, name, node.Name))
			c.recorder.Event(node, corev1.EventTypeWarning, EventAbandoned, "Disruption abandoned: "+why)
		}
		c.recorder.Event(nc, corev1.EventTypeWarning, EventAbandoned, "Disruption abandoned: "+why)
		errs = append(errs, c.unmarkAll(ctx, []string{name}))
		c.released[name] = p.now.Add(c.opts.DeleteTimeout)
		res.Released = append(res.Released, name)
	}
	f.candidates = keep
	return errors.Join(errs...)
}

// validate checks the command against fresh state and says why it no longer holds, or "".
func (c *Controller) validate(p *pass, f *inflight, byName map[string]*v1.NodeClaim) string {
	for _, name := range f.candidates {
		nc := byName[name]
		if nc == nil || !nc.DeletionTimestamp.IsZero() {
			return fmt.Sprintf("nodeclaim %s is gone or being deleted", name)
		}
		node := p.nodeOf[name]
		pool := p.pools[nc.Labels[v1.NodePoolLabelKey]]
		in := Input{NodeClaim: nc, Node: node, NodePool: pool, PDBs: p.pdbs, Now: p.now}
		if node != nil {
			in.Pods = p.podsOn(node.Name)
			in.Nominated = p.nominated[node.Name] || p.nominated[nc.Name]
		}
		if b := eligible(in, true); b != nil {
			return b.String()
		}
		if p.ledger.Overdrawn(pool.Name, f.reason) {
			return fmt.Sprintf("the %s disruption budget of nodepool %s is exceeded", f.reason, pool.Name)
		}
		if f.ctype == TypeEmpty && slices.ContainsFunc(in.Pods, podNeedsPlace) {
			return fmt.Sprintf("node %s is no longer empty", node.Name)
		}
	}
	return c.resimulate(p, f, byName)
}

// resimulate decides again, as when the command was computed, without counting on the
// replacements it launched: the candidates' pods must fit on the other nodes (a delete),
// need one new node at most (a consolidation replace), or fit with new nodes (drift). The
// launched replacements then take them, or the provisioner launches what is missing. Pods
// of other in-flight commands compete for capacity but do not decide.
func (c *Controller) resimulate(p *pass, f *inflight, byName map[string]*v1.NodeClaim) string {
	gone := maps.Clone(p.goneNodes)
	mine := map[types.UID]bool{}
	var movers []*corev1.Pod
	for _, name := range f.candidates {
		if node := p.nodeOf[name]; node != nil {
			for _, pod := range p.podsOn(node.Name) {
				if podNeedsPlace(pod) {
					movers = append(movers, pod)
					mine[pod.UID] = true
				}
			}
		}
	}
	for _, name := range f.replacements {
		gone[name] = true
		if node := p.nodeOf[name]; node != nil {
			gone[node.Name] = true
		}
	}
	var others []*corev1.Pod
	for _, pod := range p.moving {
		if !mine[pod.UID] {
			others = append(others, pod)
		}
	}
	sim := p.run(gone, movers, others, nil)
	if sim.fits && f.reason != v1.DisruptionReasonDrifted && len(sim.replacements) > 1 {
		check := func(extra *scheduling.ExistingNode) simulation { return p.run(gone, movers, others, extra) }
		if merged, ok := p.mergeReplacements(sim.replacements, check); ok {
			sim.replacements = []scheduling.NewNodeClaim{merged}
		}
	}
	switch {
	case !sim.fits:
		return "the pods no longer fit: " + sim.why
	case f.reason == v1.DisruptionReasonDrifted:
		return ""
	case len(sim.replacements) > len(f.replacements) && len(sim.replacements) > 1:
		return fmt.Sprintf("the pods would now need %d new nodes, the command launched %d", len(sim.replacements), len(f.replacements))
	case len(f.replacements) == 0 && len(sim.replacements) > 0:
		return "the pods no longer fit on the other nodes"
	}
	return ""
}

// abort gives the command up: candidates untainted and unmarked; replacements unmarked, and
// deleted when deleteReplacements (they have not initialized: nothing runs there).
func (c *Controller) abort(ctx context.Context, p *pass, f *inflight, why string, deleteReplacements bool) error {
	delete(c.commands, f.id)
	var errs []error
	for _, name := range f.candidates {
		if node := p.nodeOf[name]; node != nil {
			errs = append(errs, c.untaint(ctx, name, node.Name))
		}
		c.recorder.Eventf(&v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: name}}, corev1.EventTypeNormal, EventAbandoned, "Disruption abandoned: %s", why)
	}
	errs = append(errs, c.unmarkAll(ctx, f.candidates))
	if deleteReplacements {
		for _, name := range f.replacements {
			nc := &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: name}}
			if err := c.kube.Delete(ctx, nc); client.IgnoreNotFound(err) != nil {
				errs = append(errs, fmt.Errorf("deleting replacement %s: %w", name, err))
			}
		}
	} else {
		errs = append(errs, c.unmarkAll(ctx, f.replacements))
	}
	return errors.Join(errs...)
}

// recover rebuilds the commands a previous process left: NodeClaims carrying a command
// annotation are regrouped; a command whose candidates all still carry the taint resumes
// (its replacements are adopted, never launched again), any other is abandoned. A disrupted
// taint on a live node that no command holds is removed by releaseStrayTaints, every pass.
func (c *Controller) recover(ctx context.Context, p *pass) error {
	byID := map[string]*inflight{}
	for _, nc := range p.claims {
		id := nc.Annotations[CommandAnnotationKey]
		if id == "" {
			continue
		}
		f := byID[id]
		if f == nil {
			f = &inflight{id: id, reason: v1.DisruptionReason(nc.Annotations[ReasonAnnotationKey]), startedAt: p.now, why: "resumed after a restart"}
			byID[id] = f
		}
		switch nc.Annotations[RoleAnnotationKey] {
		case RoleReplacement:
			f.replacements = append(f.replacements, nc.Name)
		default:
			if nc.DeletionTimestamp.IsZero() {
				f.candidates = append(f.candidates, nc.Name)
			}
		}
	}
	var errs []error
	for _, f := range byID {
		resume := len(f.candidates) > 0
		for _, name := range f.candidates {
			resume = resume && HasDisruptedTaint(p.nodeOf[name])
		}
		switch {
		case len(f.candidates) == 0:
			f.phase = phaseDraining
			c.commands[f.id] = f
		case resume:
			c.commands[f.id] = f
			log.FromContext(ctx).Info("resuming disruption command after a restart", "command", f.id, "candidates", f.candidates, "replacements", f.replacements)
		default:
			errs = append(errs, c.abort(ctx, p, f, "its candidates were not all tainted when the controller restarted", false))
		}
	}
	return errors.Join(errs...)
}

// releaseStrayTaints takes the disrupted taint off live nodes that no command in flight
// holds: one a previous process left, or one a rollback failed to remove (its untaint
// conflicted with another writer). Such a node is no candidate, takes no pods and counts
// against its NodePool's budget until someone removes the taint; every pass looks.
func (c *Controller) releaseStrayTaints(ctx context.Context, p *pass) error {
	held := map[string]bool{}
	for _, f := range c.commands {
		for _, name := range f.candidates {
			held[name] = true
		}
	}
	var errs []error
	for _, nc := range p.claims {
		node := p.nodeOf[nc.Name]
		if held[nc.Name] || node == nil || !nc.DeletionTimestamp.IsZero() || !node.DeletionTimestamp.IsZero() || !HasDisruptedTaint(node) {
			continue
		}
		log.FromContext(ctx).Info("removing a disrupted taint no command holds", "node", klog.KObj(node))
		errs = append(errs, c.untaint(ctx, nc.Name, node.Name))
	}
	return errors.Join(errs...)
}

// mark annotates a NodeClaim with the command it belongs to.
func (c *Controller) mark(ctx context.Context, nc *v1.NodeClaim, id, role string, reason v1.DisruptionReason) error {
	stored := nc.DeepCopy()
	patched := nc.DeepCopy()
	if patched.Annotations == nil {
		patched.Annotations = map[string]string{}
	}
	patched.Annotations[CommandAnnotationKey] = id
	patched.Annotations[RoleAnnotationKey] = role
	patched.Annotations[ReasonAnnotationKey] = string(reason)
	if err := c.kube.Patch(ctx, patched, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("marking nodeclaim %s for disruption: %w", nc.Name, err)
	}
	return nil
}

// unmarkAll removes the command annotations from the NodeClaims that still exist.
func (c *Controller) unmarkAll(ctx context.Context, names []string) error {
	var errs []error
	for _, name := range names {
		nc := &v1.NodeClaim{}
		if err := c.kube.Get(ctx, client.ObjectKey{Name: name}, nc); err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("getting nodeclaim %s to unmark it: %w", name, err))
			}
			continue
		}
		if _, ok := nc.Annotations[CommandAnnotationKey]; !ok {
			continue
		}
		stored := nc.DeepCopy()
		delete(nc.Annotations, CommandAnnotationKey)
		delete(nc.Annotations, RoleAnnotationKey)
		delete(nc.Annotations, ReasonAnnotationKey)
		if err := c.kube.Patch(ctx, nc, client.MergeFrom(stored)); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("unmarking nodeclaim %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// taint puts karpenter.sh/disrupted:NoSchedule on the node.
func (c *Controller) taint(ctx context.Context, name string) error {
	node := &corev1.Node{}
	if err := c.kube.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
		return fmt.Errorf("getting node %s to taint it: %w", name, err)
	}
	if HasDisruptedTaint(node) {
		return nil
	}
	stored := node.DeepCopy()
	t := v1.DisruptedNoScheduleTaint
	now := metav1.NewTime(c.clock.Now())
	t.TimeAdded = &now
	node.Spec.Taints = append(node.Spec.Taints, t)
	if err := c.kube.Patch(ctx, node, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("tainting node %s: %w", name, err)
	}
	c.cluster.UpdateNode(node)
	return nil
}

// untaint takes karpenter.sh/disrupted off the node of claimName, unless that NodeClaim or
// its node is being deleted.
func (c *Controller) untaint(ctx context.Context, claimName, name string) error {
	// Another actor (expiration, an interruption, a user) may have started deleting the
	// NodeClaim since the pass began: its node is about to drain, and the taint must stay
	// so that no pod is scheduled there meanwhile. Read it afresh rather than from the pass.
	claim := &v1.NodeClaim{}
	if err := c.kube.Get(ctx, client.ObjectKey{Name: claimName}, claim); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("getting nodeclaim %s before untainting its node: %w", claimName, err)
	}
	if !claim.DeletionTimestamp.IsZero() {
		log.FromContext(ctx).V(1).Info("leaving the disrupted taint: the nodeclaim is being deleted", "nodeclaim", claimName, "node", name)
		return nil
	}
	// The node's other taints are written under an optimistic lock (the node lifecycle
	// controller may be adding its own); a conflict is read again and retried.
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		node := &corev1.Node{}
		if err := c.kube.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
			return client.IgnoreNotFound(err)
		}
		if !node.DeletionTimestamp.IsZero() {
			return nil
		}
		stored := node.DeepCopy()
		node.Spec.Taints = slices.DeleteFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.MatchTaint(&v1.DisruptedNoScheduleTaint) })
		if len(node.Spec.Taints) == len(stored.Spec.Taints) {
			return nil
		}
		if err := c.kube.Patch(ctx, node, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
		c.cluster.UpdateNode(node)
		return nil
	})
	if err != nil {
		return fmt.Errorf("untainting node %s: %w", name, err)
	}
	return nil
}

// podNeedsPlace reports whether the pod must be rescheduled when its node goes.
func podNeedsPlace(p *corev1.Pod) bool { return pods.IsReschedulable(p) }
