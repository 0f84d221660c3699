package reason

import "testing"

func TestNominatedRoundTrip(t *testing.T) {
	for _, tc := range []struct{ message, want string }{
		{NominatedMessage("default-abc12"), "default-abc12"},
		{"Pod should schedule on: nodeclaim/default-x", "default-x"}, // upstream's form
		{"Pod should schedule on: node/ip-10-0-0-1", "ip-10-0-0-1"},
	} {
		if got, ok := ParseNominated(tc.message); !ok || got != tc.want {
			t.Errorf("ParseNominated(%q) = %q, %v; want %q", tc.message, got, ok, tc.want)
		}
	}
	for _, bad := range []string{"", "Pod should schedule on: ", "Failed to schedule pod: x"} {
		if _, ok := ParseNominated(bad); ok {
			t.Errorf("ParseNominated(%q) accepted", bad)
		}
	}
}
