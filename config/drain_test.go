package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDrainTimeout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    time.Duration
		wantErr bool
	}{
		{name: "default", want: 30 * time.Second},
		{name: "flag", args: []string{"--drain-timeout", "5s"}, want: 5 * time.Second},
		{name: "env", env: map[string]string{"RELAYCAST_DRAIN_TIMEOUT": "2m"}, want: 2 * time.Minute},
		{name: "zero stops at once", args: []string{"--drain-timeout", "0"}, want: 0},
		{name: "negative", args: []string{"--drain-timeout", "-1s"}, wantErr: true},
		{name: "over an hour", args: []string{"--drain-timeout", "2h"}, wantErr: true},
		{name: "not a duration", args: []string{"--drain-timeout", "soon"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(newFS(), tc.args, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "drain-timeout") {
					t.Fatalf("err = %v, want one naming drain-timeout", err)
				}
				if !errors.Is(err, ErrInvalid) && !strings.Contains(err.Error(), "invalid value") {
					t.Fatalf("err = %v, want ErrInvalid or a flag parse error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.DrainTimeout != tc.want {
				t.Fatalf("DrainTimeout = %v, want %v", c.DrainTimeout, tc.want)
			}
		})
	}
}
