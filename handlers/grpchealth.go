package handlers

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// The standard gRPC health service, grpc.health.v1.Health, as grpc-go's
// health.Server serves it (Check, List, the server-streaming Watch), with
// its messages read and written by protowire (field numbers from
// grpc/health/v1/health.proto) instead of generated types, which would
// link grpc-go. Probes (Envoy's grpc_health_check, Kubernetes' grpc probe)
// see the same answers.

// healthService is the health service's name, the prefix of its methods'
// paths.
const healthService = "grpc.health.v1.Health"

// servingStatus is HealthCheckResponse.ServingStatus.
type servingStatus uint8

const (
	statusUnknown servingStatus = iota
	statusServing
	statusNotServing
	statusServiceUnknown
)

// health holds each service's status and the Watch calls following it.
// After shutdown every status is NOT_SERVING and stays so.
type health struct {
	mu       sync.Mutex
	statuses map[string]servingStatus
	watchers map[string]map[chan servingStatus]struct{}
	shutdown bool
	done     chan struct{} // closed by shutdown: Watch calls end
}

// newHealth reports "" (the process) SERVING, as grpc-go's does.
func newHealth() *health {
	return &health{
		statuses: map[string]servingStatus{"": statusServing},
		watchers: map[string]map[chan servingStatus]struct{}{},
		done:     make(chan struct{}),
	}
}

// set sets a service's status, unless shutdown came first.
func (h *health) set(service string, st servingStatus) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.shutdown {
		h.setLocked(service, st)
	}
}

func (h *health) setLocked(service string, st servingStatus) {
	h.statuses[service] = st
	for ch := range h.watchers[service] {
		// Only the latest status matters to a watcher that has not sent
		// the previous one yet.
		select {
		case <-ch:
		default:
		}
		ch <- st
	}
}

// status is a service's status; false when it is unknown.
func (h *health) status(service string) (servingStatus, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.statuses[service]
	return st, ok
}

// stop turns every status to NOT_SERVING for good, and ends the Watch
// calls once they have sent it, so that a graceful shutdown does not wait
// for them.
func (h *health) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shutdown {
		return
	}
	h.shutdown = true
	for service := range h.statuses {
		h.setLocked(service, statusNotServing)
	}
	close(h.done)
}

// check serves Health/Check.
func (h *health) check(_ context.Context, call *grpcCall, req []byte) error {
	service, err := readHealthCheckRequest(req)
	if err != nil {
		return err
	}
	st, ok := h.status(service)
	if !ok {
		return grpcErr(grpcNotFound, "unknown service")
	}
	return call.send(appendHealthCheckResponse(nil, st))
}

// list serves Health/List: every service's status.
func (h *health) list(_ context.Context, call *grpcCall, req []byte) error {
	if err := wireWalk(req, nil, protowire.DefaultRecursionLimit, nil, nil); err != nil {
		return grpcErr(grpcInternal, "grpc: failed to unmarshal the received message: grpc.health.v1.HealthListRequest: "+err.Error())
	}
	h.mu.Lock()
	names := make([]string, 0, len(h.statuses))
	for name := range h.statuses {
		names = append(names, name)
	}
	statuses := make([]servingStatus, len(names))
	sort.Strings(names)
	for i, name := range names {
		statuses[i] = h.statuses[name]
	}
	h.mu.Unlock()
	// HealthListResponse: map<string, HealthCheckResponse> statuses = 1.
	var b []byte
	for i, name := range names {
		value := appendHealthCheckResponse(nil, statuses[i])
		entry := appendString(nil, 1, name)
		entry = protowire.AppendTag(entry, 2, protowire.BytesType)
		entry = protowire.AppendBytes(entry, value)
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, entry)
	}
	return call.send(b)
}

// watch serves Health/Watch: the service's status at once (SERVICE_UNKNOWN
// for a service not known yet), then every change, until the client goes
// away or the server shuts down, having sent NOT_SERVING.
func (h *health) watch(ctx context.Context, call *grpcCall, req []byte) error {
	service, err := readHealthCheckRequest(req)
	if err != nil {
		return err
	}
	updates := make(chan servingStatus, 1)
	h.mu.Lock()
	st, ok := h.statuses[service]
	if !ok {
		st = statusServiceUnknown
	}
	updates <- st
	if h.watchers[service] == nil {
		h.watchers[service] = map[chan servingStatus]struct{}{}
	}
	h.watchers[service][updates] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.watchers[service], updates)
		if len(h.watchers[service]) == 0 {
			delete(h.watchers, service)
		}
		h.mu.Unlock()
	}()

	last := servingStatus(255)
	send := func(st servingStatus) error {
		if st == last {
			return nil
		}
		last = st
		if err := call.send(appendHealthCheckResponse(nil, st)); err != nil {
			return err
		}
		return call.flush()
	}
	for {
		select {
		case st := <-updates:
			if err := send(st); err != nil {
				return grpcErr(grpcCanceled, "Stream has ended.")
			}
		case <-h.done:
			// stop queued NOT_SERVING before closing done.
			select {
			case st := <-updates:
				if err := send(st); err != nil {
					return grpcErr(grpcCanceled, "Stream has ended.")
				}
			default:
			}
			return grpcErr(grpcUnavailable, "health: the server is shutting down")
		case <-ctx.Done():
			return grpcErr(grpcCanceled, "Stream has ended.")
		}
	}
}

// readHealthCheckRequest reads HealthCheckRequest: string service = 1.
func readHealthCheckRequest(b []byte) (string, error) {
	service := ""
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", badHealthRequest(protowire.ParseError(n))
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return "", badHealthRequest(protowire.ParseError(n))
			}
			if !utf8.Valid(v) {
				return "", badHealthRequest(errWireUTF8)
			}
			service, b = string(v), b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return "", badHealthRequest(protowire.ParseError(n))
		}
		b = b[n:]
	}
	return service, nil
}

func badHealthRequest(err error) error {
	return grpcErr(grpcInternal, fmt.Sprintf("grpc: failed to unmarshal the received message: grpc.health.v1.HealthCheckRequest: %v", err))
}

// appendHealthCheckResponse appends HealthCheckResponse: ServingStatus
// status = 1, left out when UNKNOWN (0) as proto3 does.
func appendHealthCheckResponse(b []byte, st servingStatus) []byte {
	if st == statusUnknown {
		return b
	}
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(st))
}
