package budget

import (
	"errors"
	"fmt"
	"strings"

	"github.com/robfig/cron/v3"
)

// errScheduleTimeZone rejects a time-zone prefix: schedules are UTC (the API says so), and
// the cron library panics on a "TZ=" prefix without a following space (a tab passes the
// CRD's pattern), which would crash the controller on every reconcile of the NodePool.
var errScheduleTimeZone = errors.New("schedules are UTC: a TZ= or CRON_TZ= prefix is not allowed")

// parseSchedule parses a budget's cron schedule (five fields or an @descriptor), as a
// user's input: it never panics, whatever the string.
func parseSchedule(spec string) (sched cron.Schedule, err error) {
	trimmed := strings.TrimSpace(spec)
	if strings.HasPrefix(trimmed, "TZ=") || strings.HasPrefix(trimmed, "CRON_TZ=") {
		return nil, errScheduleTimeZone
	}
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("parsing cron schedule: %v", r)
		}
	}()
	return cron.ParseStandard(spec)
}
