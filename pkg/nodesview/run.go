package nodesview

import (
	"context"
	"fmt"
	"io"
	"time"

	"k8s.io/utils/clock"
)

// ANSI sequences Run writes.
const (
	hideCursor  = "\x1b[?25l"
	showCursor  = "\x1b[?25h"
	clearScreen = "\x1b[2J"
	home        = "\x1b[H"
	clearEOL    = "\x1b[K"
	clearBelow  = "\x1b[J"
)

// Options configure Run.
type Options struct {
	// Out is the terminal.
	Out io.Writer
	// Source reads the rows of a frame; an error is shown in the frame and retried next tick.
	Source func(ctx context.Context) (Frame, error)
	// Clock ticks the refresh and stamps the frames; default the real clock.
	Clock clock.WithTicker
	// Interval between frames; default 2s.
	Interval time.Duration
	// Width gives the terminal's width before each frame; default 100 columns.
	Width func() int
	// Frames stops after that many frames; 0 runs until ctx ends.
	Frames int
}

// Run draws a frame, then redraws it in place every Interval until ctx ends (or Frames
// frames are drawn). It returns ctx's error only if it ended before the first frame.
func Run(ctx context.Context, o Options) error {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.Width == nil {
		o.Width = func() int { return 100 }
	}
	if _, err := io.WriteString(o.Out, hideCursor+clearScreen); err != nil {
		return fmt.Errorf("writing to the terminal: %w", err)
	}
	defer func() { _, _ = io.WriteString(o.Out, showCursor) }()
	ticker := o.Clock.NewTicker(o.Interval)
	defer ticker.Stop()
	for n := 1; ; n++ {
		if err := frame(ctx, o); err != nil {
			return err
		}
		if o.Frames > 0 && n >= o.Frames {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		}
	}
}

func frame(ctx context.Context, o Options) error {
	width := o.Width()
	f, err := o.Source(ctx)
	var lines []string
	if err != nil {
		lines = []string{fit(fmt.Sprintf("karpenter nodes  reading the cluster: %v", err), max(width, MinWidth))}
	} else {
		lines = Render(f, width, o.Clock.Now())
	}
	buf := []byte(home)
	for _, l := range lines {
		buf = append(buf, l...)
		buf = append(buf, clearEOL+"\r\n"...)
	}
	buf = append(buf, clearBelow...)
	if _, err := o.Out.Write(buf); err != nil {
		return fmt.Errorf("writing to the terminal: %w", err)
	}
	return nil
}

// Once renders one frame as plain text (no escape sequences), for pipes and scripts.
func Once(w io.Writer, f Frame, width int, now time.Time) error {
	for _, l := range Render(f, width, now) {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return fmt.Errorf("writing: %w", err)
		}
	}
	return nil
}
