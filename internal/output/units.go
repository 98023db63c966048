package output

import (
	"fmt"
	"time"
)

var decimalUnits = []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}

// HumanSize formats bytes as Docker does (decimal units, three significant
// digits): 4261234 → "4.26MB".
func HumanSize(n int64) string {
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(decimalUnits)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.3g%s", f, decimalUnits[i])
}

// HumanSize4 is HumanSize with four significant digits: 1989120 →
// "1.989MB". Docker's units.HumanSize, which `docker system df` uses for
// its totals and the SHARED SIZE and UNIQUE SIZE columns (the SIZE columns
// of `images` and `df -v` have three).
func HumanSize4(n int64) string {
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(decimalUnits)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.4g%s", f, decimalUnits[i])
}

// HumanDuration renders d the way Docker renders ages ("About an hour",
// "3 weeks").
func HumanDuration(d time.Duration) string {
	if seconds := int(d.Seconds()); seconds < 1 {
		return "Less than a second"
	} else if seconds == 1 {
		return "1 second"
	} else if seconds < 60 {
		return fmt.Sprintf("%d seconds", seconds)
	} else if minutes := int(d.Minutes()); minutes == 1 {
		return "About a minute"
	} else if minutes < 60 {
		return fmt.Sprintf("%d minutes", minutes)
	} else if hours := int(d.Hours() + 0.5); hours == 1 {
		return "About an hour"
	} else if hours < 48 {
		return fmt.Sprintf("%d hours", hours)
	} else if hours < 24*7*2 {
		return fmt.Sprintf("%d days", hours/24)
	} else if hours < 24*30*2 {
		return fmt.Sprintf("%d weeks", hours/24/7)
	} else if hours < 24*365*2 {
		return fmt.Sprintf("%d months", hours/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}

// Since renders how long ago t was, Docker style ("2 weeks ago"); the zero
// time is "N/A".
func Since(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	return HumanDuration(now.Sub(t)) + " ago"
}
