package handlers

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
)

// The gRPC status codes and errors the server answers with. They are ours,
// not grpc-go's codes and status packages, so that the handlers package
// does not link grpc-go: its package-level state is marked by every
// garbage collection cycle. The names are those grpc-go's
// codes.Code.String prints (TestGRPCCodeNamesMatchGRPCGo), so logs and
// metrics read the same.

// grpcCode is a gRPC status code, as carried in grpc-status and in a
// CheckResponse's status.
type grpcCode uint32

const (
	grpcOK grpcCode = iota
	grpcCanceled
	grpcUnknown
	grpcInvalidArgument
	grpcDeadlineExceeded
	grpcNotFound
	grpcAlreadyExists
	grpcPermissionDenied
	grpcResourceExhausted
	grpcFailedPrecondition
	grpcAborted
	grpcOutOfRange
	grpcUnimplemented
	grpcInternal
	grpcUnavailable
	grpcDataLoss
	grpcUnauthenticated
)

var grpcCodeNames = [...]string{
	"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
	"AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
	"Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
	"Unauthenticated",
}

// grpcStatusValues are the grpc-status header values, built once so that
// answering a call does not format a number.
var grpcStatusValues = func() (v [len(grpcCodeNames)][]string) {
	for i := range v {
		v[i] = []string{strconv.Itoa(i)}
	}
	return v
}()

func (c grpcCode) String() string {
	if int(c) < len(grpcCodeNames) {
		return grpcCodeNames[c]
	}
	return "Code(" + strconv.FormatInt(int64(c), 10) + ")"
}

// statusValue is c as a grpc-status header value.
func (c grpcCode) statusValue() []string {
	if int(c) < len(grpcStatusValues) {
		return grpcStatusValues[c]
	}
	return []string{strconv.FormatUint(uint64(c), 10)}
}

// grpcError is a call's failure: the status the client receives.
type grpcError struct {
	code grpcCode
	msg  string
}

func (e *grpcError) Error() string {
	return "rpc error: code = " + e.code.String() + " desc = " + e.msg
}

func grpcErr(code grpcCode, msg string) error { return &grpcError{code: code, msg: msg} }

// grpcStatusOf is the status err answers with: its own when it is a
// grpcError, a context's end as the matching code, anything else Unknown,
// as grpc-go converts a handler's error.
func grpcStatusOf(err error) (grpcCode, string) {
	var ge *grpcError
	switch {
	case err == nil:
		return grpcOK, ""
	case errors.As(err, &ge):
		return ge.code, ge.msg
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return grpcDeadlineExceeded, context.DeadlineExceeded.Error()
	case errors.Is(err, context.Canceled):
		return grpcCanceled, context.Canceled.Error()
	}
	return grpcUnknown, err.Error()
}

// grpcCodeOf is the code of grpcStatusOf(err).
func grpcCodeOf(err error) grpcCode {
	code, _ := grpcStatusOf(err)
	return code
}

// encodeGRPCMessage percent-encodes a grpc-message value: every byte
// outside printable ASCII, and "%" itself, becomes %XX, so any message
// (UTF-8 included) is a valid header value.
func encodeGRPCMessage(msg string) string {
	clean := true
	for i := 0; i < len(msg) && clean; i++ {
		clean = msg[i] >= ' ' && msg[i] <= '~' && msg[i] != '%'
	}
	if clean {
		return msg
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(msg) + 8)
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c >= ' ' && c <= '~' && c != '%' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
