package v1_test

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/gokarpenter/karpenter/pkg/test"
)

// nodePool wraps a spec.template.spec fragment and a spec fragment into a whole NodePool.
// templateSpec must hold at least requirements and nodeClassRef unless the case is about them.
func nodePool(spec, templateSpec string) string {
	return fmt.Sprintf(`apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {generateName: np-}
spec:
%s
  template:
    spec:
%s
`, indent(spec, 2), indent(templateSpec, 6))
}

const defaultRef = "nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}"

// withReqs is a template spec with the given requirement list (YAML flow items).
func withReqs(reqs ...string) string {
	return "requirements: [" + strings.Join(reqs, ", ") + "]\n" + defaultRef
}

func nodeClaim(spec string) string {
	return fmt.Sprintf(`apiVersion: karpenter.sh/v1
kind: NodeClaim
metadata: {generateName: nc-}
spec:
%s
`, indent(spec, 2))
}

func indent(s string, n int) string {
	if s == "" {
		return ""
	}
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pad + l
	}
	return strings.Join(lines, "\n")
}

type manifestCase struct {
	name     string
	manifest string
	// wantErr lists substrings the API server's error must contain: the field path and the rule.
	// Empty means the manifest must be accepted.
	wantErr []string
	// strict asks the API server to refuse unknown fields instead of dropping them.
	strict bool
}

func manifestCases() []manifestCase {
	reqPath := "spec.template.spec.requirements"
	tooMany := make([]string, 101)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("{key: example.com/k%d, operator: Exists}", i)
	}
	return []manifestCase{
		// ---- accepted NodePools
		{name: "minimal", manifest: nodePool("", withReqs())},
		{name: "common requirements", manifest: nodePool("", withReqs(
			"{key: kubernetes.io/arch, operator: In, values: [amd64, arm64]}",
			"{key: karpenter.sh/capacity-type, operator: In, values: [spot, on-demand]}",
			"{key: topology.kubernetes.io/zone, operator: NotIn, values: [us-east-1d]}",
			"{key: node.kubernetes.io/instance-type, operator: Exists}",
			"{key: karpenter.k8s.aws/instance-family, operator: DoesNotExist}"))},
		{name: "Gt with one integer", manifest: nodePool("", withReqs("{key: karpenter.k8s.aws/instance-cpu, operator: Gt, values: ['2']}"))},
		{name: "Lt Gte Lte", manifest: nodePool("", withReqs(
			"{key: karpenter.k8s.aws/instance-cpu, operator: Lt, values: ['65']}",
			"{key: karpenter.k8s.aws/instance-generation, operator: Gte, values: ['5']}",
			"{key: karpenter.k8s.aws/instance-memory, operator: Lte, values: ['262144']}"))},
		{name: "minValues within In values", manifest: nodePool("", withReqs("{key: karpenter.k8s.aws/instance-family, operator: In, values: [m5, m6i, m7i], minValues: 2}"))},
		{name: "minValues 50 on Exists", manifest: nodePool("", withReqs("{key: node.kubernetes.io/instance-type, operator: Exists, minValues: 50}"))},
		{name: "custom label domain", manifest: nodePool("", withReqs("{key: example.com/team, operator: In, values: [payments]}"))},
		{name: "kops.k8s.io domain allowed", manifest: nodePool("", withReqs("{key: kops.k8s.io/instancegroup, operator: Exists}"))},
		{name: "node-restriction domain allowed", manifest: nodePool("", withReqs("{key: node-restriction.kubernetes.io/pool, operator: Exists}"))},
		{name: "expireAfter Never", manifest: nodePool("", withReqs()+"\nexpireAfter: Never")},
		{name: "expireAfter compound", manifest: nodePool("", withReqs()+"\nexpireAfter: 1h30m")},
		{name: "terminationGracePeriod", manifest: nodePool("", withReqs()+"\nterminationGracePeriod: 48h")},
		{name: "taints and startupTaints", manifest: nodePool("", withReqs()+"\ntaints: [{key: gpu, value: 'true', effect: NoSchedule}]\nstartupTaints: [{key: cni, effect: NoExecute}]")},
		{name: "consolidateAfter Never", manifest: nodePool("disruption: {consolidateAfter: Never}", withReqs())},
		{name: "WhenEmpty after 30s", manifest: nodePool("disruption: {consolidationPolicy: WhenEmpty, consolidateAfter: 30s}", withReqs())},
		{name: "scheduled budget", manifest: nodePool("disruption:\n  budgets: [{nodes: '0', schedule: '0 9 * * mon-fri', duration: 8h}, {nodes: '20%', reasons: [Drifted, Empty]}]", withReqs())},
		{name: "budget @daily 1h30m", manifest: nodePool("disruption:\n  budgets: [{nodes: '100%', schedule: '@daily', duration: 1h30m}]", withReqs())},
		{name: "weight bounds and limits", manifest: nodePool("weight: 100\nlimits: {cpu: '1000', memory: 1000Gi, nvidia.com/gpu: '8'}", withReqs())},
		{name: "template labels and annotations", manifest: nodePool("", withReqs()) + "    metadata:\n      labels: {team: payments, karpenter.sh/capacity-type: spot}\n      annotations: {example.com/owner: me}\n"},
		{name: "static replicas", manifest: nodePool("replicas: 3", withReqs())},

		// ---- rejected NodePools: requirements
		{name: "In without values", manifest: nodePool("", withReqs("{key: kubernetes.io/arch, operator: In}")),
			wantErr: []string{reqPath, "requirements with operator 'In' must have a value defined"}},
		{name: "Gt with two values", manifest: nodePool("", withReqs("{key: karpenter.k8s.aws/instance-cpu, operator: Gt, values: ['1', '2']}")),
			wantErr: []string{reqPath, "must have a single non-negative integer value"}},
		{name: "Lt with negative value", manifest: nodePool("", withReqs("{key: karpenter.k8s.aws/instance-cpu, operator: Lt, values: ['-1']}")),
			wantErr: []string{reqPath, "must have a single non-negative integer value"}},
		{name: "Gte with text", manifest: nodePool("", withReqs("{key: karpenter.k8s.aws/instance-cpu, operator: Gte, values: [four]}")),
			wantErr: []string{reqPath, "must have a single non-negative integer value"}},
		{name: "Lte without value", manifest: nodePool("", withReqs("{key: karpenter.k8s.aws/instance-cpu, operator: Lte}")),
			wantErr: []string{reqPath, "must have a single non-negative integer value"}},
		{name: "unknown operator", manifest: nodePool("", withReqs("{key: kubernetes.io/arch, operator: Equals, values: [amd64]}")),
			wantErr: []string{reqPath + "[0].operator", "Unsupported value"}},
		{name: "minValues 0", manifest: nodePool("", withReqs("{key: node.kubernetes.io/instance-type, operator: Exists, minValues: 0}")),
			wantErr: []string{reqPath + "[0].minValues", "greater than or equal to 1"}},
		{name: "minValues 51", manifest: nodePool("", withReqs("{key: node.kubernetes.io/instance-type, operator: Exists, minValues: 51}")),
			wantErr: []string{reqPath + "[0].minValues", "less than or equal to 50"}},
		{name: "minValues above In values", manifest: nodePool("", withReqs("{key: karpenter.k8s.aws/instance-family, operator: In, values: [m5, c5], minValues: 3}")),
			wantErr: []string{reqPath, "must have at least that many values"}},
		{name: "karpenter.sh/nodepool key", manifest: nodePool("", withReqs("{key: karpenter.sh/nodepool, operator: In, values: [x]}")),
			wantErr: []string{reqPath, `label "karpenter.sh/nodepool" is restricted`}},
		{name: "karpenter.sh domain key", manifest: nodePool("", withReqs("{key: karpenter.sh/custom, operator: Exists}")),
			wantErr: []string{reqPath + "[0].key", `label domain "karpenter.sh" is restricted`}},
		{name: "kubernetes.io/hostname key", manifest: nodePool("", withReqs("{key: kubernetes.io/hostname, operator: Exists}")),
			wantErr: []string{reqPath + "[0].key", `label "kubernetes.io/hostname" is restricted`}},
		{name: "kubernetes.io domain key", manifest: nodePool("", withReqs("{key: kubernetes.io/custom, operator: Exists}")),
			wantErr: []string{reqPath + "[0].key", `label domain "kubernetes.io" is restricted`}},
		{name: "k8s.io domain key", manifest: nodePool("", withReqs("{key: k8s.io/custom, operator: Exists}")),
			wantErr: []string{reqPath + "[0].key", `label domain "k8s.io" is restricted`}},
		{name: "malformed key", manifest: nodePool("", withReqs("{key: 'has space', operator: Exists}")),
			wantErr: []string{reqPath + "[0].key", "should match"}},
		{name: "101 requirements", manifest: nodePool("", withReqs(tooMany...)),
			wantErr: []string{reqPath, "must have at most 100 items"}},

		// ---- rejected NodePools: node class, durations, disruption, weight
		{name: "missing nodeClassRef", manifest: nodePool("", "requirements: []"),
			wantErr: []string{"spec.template.spec.nodeClassRef", "Required value"}},
		{name: "empty nodeClassRef group", manifest: nodePool("", "requirements: []\nnodeClassRef: {group: '', kind: EC2NodeClass, name: default}"),
			wantErr: []string{"spec.template.spec.nodeClassRef.group", "group may not be empty"}},
		{name: "empty nodeClassRef kind", manifest: nodePool("", "requirements: []\nnodeClassRef: {group: karpenter.k8s.aws, kind: '', name: default}"),
			wantErr: []string{"spec.template.spec.nodeClassRef.kind", "kind may not be empty"}},
		{name: "expireAfter in days", manifest: nodePool("", withReqs()+"\nexpireAfter: 30d"),
			wantErr: []string{"spec.template.spec.expireAfter", "should match"}},
		{name: "terminationGracePeriod Never", manifest: nodePool("", withReqs()+"\nterminationGracePeriod: Never"),
			wantErr: []string{"spec.template.spec.terminationGracePeriod", "should match"}},
		{name: "consolidateAfter forever", manifest: nodePool("disruption: {consolidateAfter: forever}", withReqs()),
			wantErr: []string{"spec.disruption.consolidateAfter", "should match"}},
		{name: "old consolidation policy", manifest: nodePool("disruption: {consolidationPolicy: WhenUnderutilized}", withReqs()),
			wantErr: []string{"spec.disruption.consolidationPolicy", "Unsupported value"}},
		{name: "budget 101%", manifest: nodePool("disruption: {budgets: [{nodes: '101%'}]}", withReqs()),
			wantErr: []string{"spec.disruption.budgets[0].nodes", "should match"}},
		{name: "budget nodes text", manifest: nodePool("disruption: {budgets: [{nodes: all}]}", withReqs()),
			wantErr: []string{"spec.disruption.budgets[0].nodes", "should match"}},
		{name: "schedule without duration", manifest: nodePool("disruption: {budgets: [{nodes: '0', schedule: '@daily'}]}", withReqs()),
			wantErr: []string{"spec.disruption.budgets[0]", "'schedule' must be set with 'duration'"}},
		{name: "duration without schedule", manifest: nodePool("disruption: {budgets: [{nodes: '0', duration: 1h}]}", withReqs()),
			wantErr: []string{"spec.disruption.budgets[0]", "'schedule' must be set with 'duration'"}},
		{name: "budget duration in seconds", manifest: nodePool("disruption: {budgets: [{nodes: '0', schedule: '@daily', duration: 30s}]}", withReqs()),
			wantErr: []string{"spec.disruption.budgets[0].duration", "should match"}},
		{name: "budget unknown reason", manifest: nodePool("disruption: {budgets: [{nodes: '1', reasons: [Expired]}]}", withReqs()),
			wantErr: []string{"spec.disruption.budgets[0].reasons[0]", "Unsupported value"}},
		{name: "weight 0", manifest: nodePool("weight: 0", withReqs()),
			wantErr: []string{"spec.weight", "greater than or equal to 1"}},
		{name: "weight 101", manifest: nodePool("weight: 101", withReqs()),
			wantErr: []string{"spec.weight", "less than or equal to 100"}},
		{name: "template label karpenter.sh/nodepool", manifest: nodePool("", withReqs()) + "    metadata:\n      labels: {karpenter.sh/nodepool: x}\n",
			wantErr: []string{"spec.template.metadata.labels", `label "karpenter.sh/nodepool" is restricted`}},
		{name: "template label kubernetes.io/hostname", manifest: nodePool("", withReqs()) + "    metadata:\n      labels: {kubernetes.io/hostname: x}\n",
			wantErr: []string{"spec.template.metadata.labels", `label "kubernetes.io/hostname" is restricted`}},
		{name: "negative replicas", manifest: nodePool("replicas: -1", withReqs()),
			wantErr: []string{"spec.replicas", "greater than or equal to 0"}},

		// ---- rules added to match upstream's v1 schema: template label values, taints,
		// requirement key domains, budget reasons, static NodePools, v1 has no kubelet
		{name: "template label empty value", manifest: nodePool("", withReqs()) + "    metadata:\n      labels: {team: ''}\n"},
		{name: "template label value with space", manifest: nodePool("", withReqs()) + "    metadata:\n      labels: {team: 'pay ments'}\n",
			wantErr: []string{"spec.template.metadata.labels.team", "should match"}},
		{name: "template label value 64 chars", manifest: nodePool("", withReqs()) + "    metadata:\n      labels: {team: " + strings.Repeat("a", 64) + "}\n",
			wantErr: []string{"spec.template.metadata.labels.team", "Too long"}},
		{name: "template label value ends with dash", manifest: nodePool("", withReqs()) + "    metadata:\n      labels: {team: 'payments-'}\n",
			wantErr: []string{"spec.template.metadata.labels.team", "should match"}},
		{name: "template label value with slash", manifest: nodePool("", withReqs()) + "    metadata:\n      labels: {team: 'a/b'}\n",
			wantErr: []string{"spec.template.metadata.labels.team", "should match"}},
		{name: "template label k8s.io domain", manifest: nodePool("", withReqs()) + "    metadata:\n      labels: {k8s.io/x: v}\n",
			wantErr: []string{"spec.template.metadata.labels", `label domain "k8s.io" is restricted`}},
		{name: "template label karpenter.sh domain", manifest: nodePool("", withReqs()) + "    metadata:\n      labels: {karpenter.sh/x: v}\n",
			wantErr: []string{"spec.template.metadata.labels", `label domain "karpenter.sh" is restricted`}},
		{name: "template label kubernetes.io domain", manifest: nodePool("", withReqs()) + "    metadata:\n      labels: {kubernetes.io/x: v}\n",
			wantErr: []string{"spec.template.metadata.labels", `label domain "kubernetes.io" is restricted`}},
		{name: "template label node.kubernetes.io allowed", manifest: nodePool("", withReqs()) + "    metadata:\n      labels: {node.kubernetes.io/role: worker}\n"},
		{name: "taint with DNS prefix and value", manifest: nodePool("", withReqs()+"\ntaints: [{key: example.com/dedicated, value: gpu.v1, effect: PreferNoSchedule}]")},
		{name: "taint without value", manifest: nodePool("", withReqs()+"\ntaints: [{key: dedicated, effect: NoExecute}]")},
		{name: "taint unknown effect", manifest: nodePool("", withReqs()+"\ntaints: [{key: dedicated, value: x, effect: NoRun}]"),
			wantErr: []string{"spec.template.spec.taints[0].effect", "Unsupported value"}},
		{name: "taint without effect", manifest: nodePool("", withReqs()+"\ntaints: [{key: dedicated, value: x}]"),
			wantErr: []string{"spec.template.spec.taints[0].effect", "Required value"}},
		{name: "taint empty key", manifest: nodePool("", withReqs()+"\ntaints: [{key: '', effect: NoSchedule}]"),
			wantErr: []string{"spec.template.spec.taints[0].key", "at least 1 chars long"}},
		{name: "taint key with space", manifest: nodePool("", withReqs()+"\ntaints: [{key: 'my taint', effect: NoSchedule}]"),
			wantErr: []string{"spec.template.spec.taints[0].key", "should match"}},
		{name: "taint key upper-case domain", manifest: nodePool("", withReqs()+"\ntaints: [{key: Example.com/x, effect: NoSchedule}]"),
			wantErr: []string{"spec.template.spec.taints[0].key", "should match"}},
		{name: "taint value with space", manifest: nodePool("", withReqs()+"\ntaints: [{key: dedicated, value: 'a b', effect: NoSchedule}]"),
			wantErr: []string{"spec.template.spec.taints[0].value", "should match"}},
		{name: "taint empty value", manifest: nodePool("", withReqs()+"\ntaints: [{key: dedicated, value: '', effect: NoSchedule}]"),
			wantErr: []string{"spec.template.spec.taints[0].value", "should match"}},
		{name: "startupTaint unknown effect", manifest: nodePool("", withReqs()+"\nstartupTaints: [{key: cni, effect: Evict}]"),
			wantErr: []string{"spec.template.spec.startupTaints[0].effect", "Unsupported value"}},
		{name: "startupTaint bad key", manifest: nodePool("", withReqs()+"\nstartupTaints: [{key: '-cni', effect: NoSchedule}]"),
			wantErr: []string{"spec.template.spec.startupTaints[0].key", "should match"}},
		{name: "requirement key upper-case domain", manifest: nodePool("", withReqs("{key: Example.com/team, operator: Exists}")),
			wantErr: []string{reqPath + "[0].key", "should match"}},
		{name: "requirement key too long", manifest: nodePool("", withReqs("{key: example.com/"+strings.Repeat("k", 305)+", operator: Exists}")),
			wantErr: []string{reqPath + "[0].key", "Too long"}},
		{name: "requirement value too long", manifest: nodePool("", withReqs("{key: example.com/team, operator: In, values: ["+strings.Repeat("v", 64)+"]}")),
			wantErr: []string{reqPath + "[0].values[0]", "Too long"}},
		{name: "budget duplicate reasons", manifest: nodePool("disruption: {budgets: [{nodes: '1', reasons: [Empty, Empty]}]}", withReqs()),
			wantErr: []string{"spec.disruption.budgets[0].reasons[1]", "Duplicate value"}},
		{name: "budget 51 items", manifest: nodePool("disruption: {budgets: ["+strings.TrimSuffix(strings.Repeat("{nodes: '1'}, ", 51), ", ")+"]}", withReqs()),
			wantErr: []string{"spec.disruption.budgets", "must have at most 50 items"}},
		{name: "static with nodes limit", manifest: nodePool("replicas: 2\nlimits: {nodes: '5'}", withReqs())},
		{name: "static with cpu limit", manifest: nodePool("replicas: 2\nlimits: {cpu: '100'}", withReqs()),
			wantErr: []string{"spec", "only 'limits.nodes' is supported on static NodePools"}},
		{name: "static with weight", manifest: nodePool("replicas: 2\nweight: 10", withReqs()),
			wantErr: []string{"spec", "'weight' is not supported on static NodePools"}},
		{name: "v1 template has no kubelet", strict: true, manifest: nodePool("", withReqs()+"\nkubelet: {maxPods: 110}"),
			wantErr: []string{"spec.template.spec.kubelet", "unknown field"}},
		{name: "nodeclaim taint bad effect", manifest: nodeClaim("requirements: []\n" + defaultRef + "\ntaints: [{key: a, effect: Sometimes}]"),
			wantErr: []string{"spec.taints[0].effect", "Unsupported value"}},
		{name: "nodeclaim startupTaint bad value", manifest: nodeClaim("requirements: []\n" + defaultRef + "\nstartupTaints: [{key: a, value: 'x y', effect: NoSchedule}]"),
			wantErr: []string{"spec.startupTaints[0].value", "should match"}},

		// ---- NodeClaims
		{name: "nodeclaim minimal", manifest: nodeClaim("requirements: [{key: karpenter.sh/nodepool, operator: In, values: [default]}]\n" + defaultRef + "\nresources: {requests: {cpu: 1500m, memory: 2Gi}}")},
		{name: "nodeclaim without requirements", manifest: nodeClaim(defaultRef),
			wantErr: []string{"spec.requirements", "Required value"}},
		{name: "nodeclaim In without values", manifest: nodeClaim("requirements: [{key: kubernetes.io/arch, operator: In}]\n" + defaultRef),
			wantErr: []string{"spec.requirements", "requirements with operator 'In' must have a value defined"}},
		{name: "nodeclaim hostname key", manifest: nodeClaim("requirements: [{key: kubernetes.io/hostname, operator: Exists}]\n" + defaultRef),
			wantErr: []string{"spec.requirements[0].key", `label "kubernetes.io/hostname" is restricted`}},
	}
}

// TestManifests applies each manifest to a real API server: valid ones must be accepted,
// invalid ones rejected with an error naming the field and the broken rule.
func TestManifests(t *testing.T) {
	test.RequireEnvironment(t, env)
	cases := manifestCases()
	if len(cases) < 40 {
		t.Fatalf("the table must hold at least 40 manifests, has %d", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(tc.manifest), &obj.Object); err != nil {
				t.Fatalf("test manifest is not YAML: %v\n%s", err, tc.manifest)
			}
			var opts []client.CreateOption
			if tc.strict {
				opts = append(opts, client.FieldValidation(metav1.FieldValidationStrict))
			}
			err := env.Client.Create(test.Context(t), obj, opts...)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("valid manifest rejected: %v\n%s", err, tc.manifest)
				}
				return
			}
			if err == nil {
				t.Fatalf("invalid manifest accepted:\n%s", tc.manifest)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not mention %q:\n%v", want, err)
				}
			}
		})
	}
}
