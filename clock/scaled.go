package clock

import "time"

// Scaled returns a clock that starts at epoch and runs speed times faster than
// the wall clock: after one real second, Now is epoch + speed seconds. Timers
// fire after d/speed of real time. A speed of 1 is real time shifted to epoch;
// speed must be positive.
func Scaled(epoch time.Time, speed float64) Clock {
	if speed <= 0 {
		panic("clock: Scaled speed must be positive")
	}
	return &scaled{epoch: epoch, start: time.Now(), speed: speed}
}

type scaled struct {
	epoch time.Time
	start time.Time
	speed float64
}

func (s *scaled) Now() time.Time {
	real := time.Since(s.start)
	return s.epoch.Add(time.Duration(float64(real) * s.speed))
}

func (s *scaled) NewTimer(d time.Duration) Timer {
	return realTimer{time.NewTimer(time.Duration(float64(d) / s.speed))}
}

// Speed reports how much faster than real time c runs: the speed given to
// Scaled, or 1 for any other clock.
func Speed(c Clock) float64 {
	if s, ok := c.(*scaled); ok {
		return s.speed
	}
	return 1
}
