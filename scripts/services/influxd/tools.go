//go:build tools

// Package influxd pins the InfluxDB 1.8.10 server so that
// `go build github.com/influxdata/influxdb/cmd/influxd` resolves from this
// module's go.mod/go.sum, where failing 2020-era dependencies are raised to
// versions that build on a current Go.
package influxd

import _ "github.com/influxdata/influxdb/cmd/influxd"
