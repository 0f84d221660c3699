package sim

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// ProviderIDPrefix starts every sim provider ID: sim:///<zone>/<instance-id>.
const ProviderIDPrefix = "sim:///"

// ProviderID is the provider ID of an instance.
func ProviderID(inst *simv1alpha1.SimInstance) string {
	return ProviderIDPrefix + inst.Spec.Zone + "/" + inst.Name
}

// ParseProviderID returns the zone and instance ID of a sim provider ID.
func ParseProviderID(providerID string) (zone, instanceID string, err error) {
	rest, ok := strings.CutPrefix(providerID, ProviderIDPrefix)
	if ok {
		zone, instanceID, ok = strings.Cut(rest, "/")
	}
	if !ok || zone == "" || instanceID == "" || strings.Contains(instanceID, "/") {
		return "", "", fmt.Errorf("parsing provider ID %q: want %s<zone>/<instance-id>", providerID, ProviderIDPrefix)
	}
	return zone, instanceID, nil
}

// instanceIDFor derives the instance ID of a NodeClaim UID: i- and 17 hex digits, like EC2.
func instanceIDFor(uid string) string {
	sum := sha256.Sum256([]byte(uid))
	return "i-" + hex.EncodeToString(sum[:])[:17]
}

func randomInstanceID() (string, error) {
	b := make([]byte, 9)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating instance ID: %w", err)
	}
	return "i-" + hex.EncodeToString(b)[:17], nil
}

// ensureLoaded reads every SimInstance from the API server the first time it is needed.
func (p *Provider) ensureLoaded(ctx context.Context) error {
	p.mu.Lock()
	loaded := p.loaded
	p.mu.Unlock()
	if loaded {
		return nil
	}
	return p.Resync(ctx)
}

// recordLocked keeps a write this provider made to the API server (inst nil: a delete) in
// memory, and remembers it so a Resync whose list began before it does not undo it.
func (p *Provider) recordLocked(name string, inst *simv1alpha1.SimInstance) {
	if inst != nil {
		inst.ManagedFields = nil
	}
	p.seq++
	p.recent[name] = recentWrite{seq: p.seq, at: p.clock.Now(), inst: inst}
	if inst == nil {
		delete(p.instances, name)
		return
	}
	p.instances[name] = inst
}

// recentWrite is a create, update (inst set) or delete (inst nil) of one instance.
type recentWrite struct {
	seq  uint64
	at   time.Time
	inst *simv1alpha1.SimInstance
}

// RecentWriteTTL is how long the provider's own write of an instance wins over what a
// cached list (Options.InstanceReader) shows of it: far longer than a watch lags.
const RecentWriteTTL = time.Minute

// Resync forgets the in-memory instances and reloads them from the API server, picking up
// SimInstances deleted or added by hand (kubectl delete siminstance simulates an instance
// terminated outside Karpenter). The list is read without holding the lock, so launches
// and terminations go on meanwhile; the writes they make during the list win over it.
func (p *Provider) Resync(ctx context.Context) error {
	p.mu.Lock()
	since := p.seq
	p.mu.Unlock()
	list, cached, err := p.listInstances(ctx)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	instances := make(map[string]*simv1alpha1.SimInstance, len(list.Items))
	for i := range list.Items {
		// The list's items are this call's own (from a cache, shallow copies: read only),
		// kept as they are without the managed fields nothing reads (a copy of 2,000
		// instances with them held ~20 MiB).
		list.Items[i].ManagedFields = nil
		instances[list.Items[i].Name] = &list.Items[i]
	}
	for name, w := range p.recent {
		if w.seq <= since && (!cached || now.Sub(w.at) >= RecentWriteTTL) {
			delete(p.recent, name) // the list saw it
			continue
		}
		if w.inst == nil {
			delete(instances, name)
		} else {
			instances[name] = w.inst
		}
	}
	p.instances = instances
	p.loaded = true
	return nil
}

// listInstances lists every SimInstance, from InstanceReader when set (cached reports so)
// and else, or when that fails, from the API server.
func (p *Provider) listInstances(ctx context.Context) (list *simv1alpha1.SimInstanceList, cached bool, err error) {
	if p.instanceReader != nil {
		list = &simv1alpha1.SimInstanceList{}
		if err = p.instanceReader.List(ctx, list, client.UnsafeDisableDeepCopy); err == nil {
			return list, true, nil
		}
		log.FromContext(ctx).Error(err, "listing sim instances from the cache failed; listing them from the API server")
	}
	list = &simv1alpha1.SimInstanceList{}
	if err := p.client.List(ctx, list); err != nil {
		return nil, false, fmt.Errorf("loading sim instances: %w", err)
	}
	return list, false, nil
}

// Instances returns every instance that has appeared, in no particular order. They are the
// provider's own objects, shared: read only. (The provider replaces an instance it changes,
// never changes one in place, so a caller's slice stays consistent.) The registrar reads
// them every second; copying 2,000 instances each time was most of a quiet cluster's
// allocations, and sorting their IDs a third of the registrar's CPU while quiet.
func (p *Provider) Instances(ctx context.Context) ([]*simv1alpha1.SimInstance, error) {
	if err := p.ensureLoaded(ctx); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*simv1alpha1.SimInstance, 0, len(p.instances))
	for _, inst := range p.instances {
		if p.visible(inst) {
			out = append(out, inst)
		}
	}
	return out, nil
}

func (p *Provider) byProviderIDLocked(providerID string) (*simv1alpha1.SimInstance, error) {
	_, id, err := ParseProviderID(providerID)
	if err != nil {
		return nil, cloudprovider.NewNodeClaimNotFoundError(err)
	}
	inst, ok := p.instances[id]
	if !ok || ProviderID(inst) != providerID || !p.visible(inst) {
		return nil, cloudprovider.NewNodeClaimNotFoundError(fmt.Errorf("finding instance %s: no such instance", id))
	}
	return inst, nil
}

// nodeClaimOf describes an instance as a NodeClaim, as Get and List return it.
func nodeClaimOf(inst *simv1alpha1.SimInstance) *v1.NodeClaim {
	nc := &v1.NodeClaim{}
	nc.Name = inst.Spec.NodeClaim
	nc.UID = types.UID(inst.Spec.NodeClaimUID)
	nc.CreationTimestamp = metav1.NewTime(inst.Spec.LaunchTime.Time)
	nc.Labels = maps.Clone(inst.Spec.Labels)
	delete(nc.Labels, v1.LabelHostname)
	if inst.Spec.NodeClass != "" {
		nc.Spec.NodeClassRef = &v1.NodeClassReference{Group: NodeClassGVK.Group, Kind: NodeClassGVK.Kind, Name: inst.Spec.NodeClass}
	}
	nc.Status.ProviderID = ProviderID(inst)
	nc.Status.ImageID = inst.Spec.ImageID
	nc.Status.Capacity = inst.Spec.Capacity.DeepCopy()
	nc.Status.Allocatable = inst.Spec.Allocatable.DeepCopy()
	return nc
}

// launched is a copy of the NodeClaim Create was given, with the instance's labels and status.
func launched(nodeClaim *v1.NodeClaim, inst *simv1alpha1.SimInstance) *v1.NodeClaim {
	out := nodeClaim.DeepCopy()
	described := nodeClaimOf(inst)
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	maps.Copy(out.Labels, described.Labels)
	out.Status.ProviderID = described.Status.ProviderID
	out.Status.ImageID = described.Status.ImageID
	out.Status.Capacity = described.Status.Capacity
	out.Status.Allocatable = described.Status.Allocatable
	return out
}
