package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// flag.Value implementations over Config fields. They are created per call of
// settings(), so a listValue's "seen" state is per parse.

type stringValue string

func (v *stringValue) String() string {
	if v == nil {
		return ""
	}
	return string(*v)
}
func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }

type intValue int

func (v *intValue) String() string {
	if v == nil {
		return "0"
	}
	return strconv.Itoa(int(*v))
}

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return errors.New("not an integer")
	}
	*v = intValue(n)
	return nil
}

type boolValue bool

func (v *boolValue) String() string {
	if v == nil {
		return "false"
	}
	return strconv.FormatBool(bool(*v))
}

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return errors.New("not a boolean (use true or false)")
	}
	*v = boolValue(b)
	return nil
}

func (v *boolValue) IsBoolFlag() bool { return true }

// listValue is a comma separated, repeatable list. The first Set replaces
// the previous (default or environment) value; later Sets append.
type listValue struct {
	p    *[]string
	seen bool
}

func (v *listValue) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

func (v *listValue) Set(s string) error {
	if !v.seen {
		*v.p = nil
		v.seen = true
	}
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*v.p = append(*v.p, item)
		}
	}
	return nil
}

// bytesValue is a size in bytes: "1048576", "64KiB", "32MiB", "4GiB", "1TiB" (also KB/MB/GB/TB
// and K/M/G/T, all powers of 1024).
type bytesValue int64

var byteUnits = []struct {
	suffixes []string
	mult     int64
}{
	{[]string{"TIB", "TB", "T"}, 1 << 40}, {[]string{"GIB", "GB", "G"}, 1 << 30},
	{[]string{"MIB", "MB", "M"}, 1 << 20}, {[]string{"KIB", "KB", "K"}, 1 << 10}, {[]string{"B", ""}, 1},
}

func (v *bytesValue) String() string {
	if v == nil {
		return "0"
	}
	return formatBytes(int64(*v))
}

func (v *bytesValue) Set(s string) error {
	u := strings.ToUpper(strings.TrimSpace(s))
	for _, unit := range byteUnits {
		for _, suf := range unit.suffixes {
			num, ok := strings.CutSuffix(u, suf)
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n < 0 || n > (1<<62)/unit.mult {
				return errors.New("not a size like 1048576, 64KiB, 32MiB or 4GiB")
			}
			*v = bytesValue(n * unit.mult)
			return nil
		}
	}
	return errors.New("not a size like 1048576, 64KiB, 32MiB or 4GiB")
}

// formatBytes writes n with the largest binary unit that divides it ("4GiB", "1000").
func formatBytes(n int64) string {
	for _, unit := range []struct {
		s string
		m int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%unit.m == 0 {
			return fmt.Sprintf("%d%s", n/unit.m, unit.s)
		}
	}
	return strconv.FormatInt(n, 10)
}
