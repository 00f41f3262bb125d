package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/fletchdb/fletch/auth"
	"github.com/fletchdb/fletch/query"
)

// Authentication happens at the edge: authHTTP (middleware) and
// authUnary/authStream (gRPC interceptors) turn the request's credentials
// into an auth.Principal in its context, or refuse it with 401 /
// Unauthenticated. Authorization happens where the database is known:
// handlers call auth.Require(ctx, db, perm). Flight SQL DoAction and DoPut
// commands are dispatched inside arrow-go, so authedFlight checks them in
// front of it. The table of what needs which permission is in
// docs/design.md#auth.

// authenticate returns the principal of an Authorization value ("" when
// the request sent none). With auth off it is auth.Unrestricted whatever
// was sent, including flightsql-dbapi's "Bearer None".
func (s *Server) authenticate(authorization string) (auth.Principal, error) {
	if s.opts.WithoutAuth {
		return auth.Unrestricted, nil
	}
	tok, err := auth.TokenFromAuthorization(authorization)
	if err != nil {
		return auth.Principal{}, err
	}
	return s.verify(tok)
}

func (s *Server) verify(token string) (auth.Principal, error) {
	if s.opts.Tokens == nil {
		return auth.Principal{}, fmt.Errorf("%w: the server has no token store", auth.ErrInvalidToken)
	}
	return s.opts.Tokens.Verify(token)
}

// openPaths need no token: load balancers and clients probe them, and
// browsers load the web console's page (which then asks for a token).
var openPaths = map[string]bool{"/health": true, "/ping": true, "/": true}

// isOpenPath reports whether path needs no token: openPaths and the web
// console's static assets under /console/.
func isOpenPath(path string) bool {
	return openPaths[path] || strings.HasPrefix(path, "/console/")
}

// tokenParamPaths are the InfluxDB v1 endpoints that may carry the token
// as the query parameter p (the v1 password).
var tokenParamPaths = map[string]bool{"/write": true, "/query": true}

// authHTTP authenticates every request but those to openPaths and answers
// 401, in the error shape of the endpoint's API version, when the
// credentials are missing or wrong.
func (s *Server) authHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isOpenPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		authz := r.Header.Get("Authorization")
		if p := r.URL.Query().Get("p"); authz == "" && p != "" && tokenParamPaths[r.URL.Path] {
			authz = "Bearer " + p
		}
		p, err := s.authenticate(authz)
		if err != nil {
			s.log.DebugContext(r.Context(), "refused HTTP request", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
			msg := err.Error() + `; send the header "Authorization: Bearer TOKEN" (or Token TOKEN, or Basic auth with the token as password)`
			if tokenParamPaths[r.URL.Path] {
				msg += ", or the query parameter p=TOKEN"
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="fletch"`)
			s.writeError(w, apiForPath(r.URL.Path), http.StatusUnauthorized, msg, nil)
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), p)))
	})
}

// apiForPath is the API version whose error shape a path answers in.
func apiForPath(path string) apiVersion {
	switch {
	case strings.HasPrefix(path, "/api/v3/"):
		return apiV3
	case strings.HasPrefix(path, "/api/v2/"):
		return apiV2
	}
	return apiV1
}

// handshakeMethod is exempt from the interceptors: it is the login, and
// authedFlight.Handshake checks the credentials itself.
const handshakeMethod = "/arrow.flight.protocol.FlightService/Handshake"

// grpcAuthorization returns the call's first non-empty "authorization"
// metadata value.
func grpcAuthorization(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if v != "" {
			return v
		}
	}
	return ""
}

// authenticateGRPC returns ctx carrying the call's principal, or an
// Unauthenticated status.
func (s *Server) authenticateGRPC(ctx context.Context, method string) (context.Context, error) {
	p, err := s.authenticate(grpcAuthorization(ctx))
	if err != nil {
		s.log.DebugContext(ctx, "refused gRPC call", "method", method, "err", err)
		return nil, grpcError(fmt.Errorf(`%w; send the metadata "authorization: Bearer TOKEN", or call Handshake with Basic credentials`, err))
	}
	return auth.NewContext(ctx, p), nil
}

func (s *Server) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := s.authenticateGRPC(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (s *Server) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if info.FullMethod == handshakeMethod {
		return handler(srv, ss)
	}
	ctx, err := s.authenticateGRPC(ss.Context(), info.FullMethod)
	if err != nil {
		if info.IsClientStream {
			// Let the client's first message in before the status ends the
			// call: arrow-go's Flight SQL client (ADBC's driver) returns the
			// io.EOF of a Send that lost that race instead of reading the
			// status, so its users would see "EOF", not Unauthenticated.
			// Waiting, not reading, keeps an unauthenticated client from
			// making the server buffer a message (up to 256 MiB).
			t := time.NewTimer(refusedStreamDelay)
			select {
			case <-t.C:
			case <-ss.Context().Done():
				t.Stop()
			}
		}
		return err
	}
	return handler(srv, &principalStream{ServerStream: ss, ctx: ctx})
}

// refusedStreamDelay is how long an unauthenticated client-streaming call
// (DoPut, DoExchange) waits before it is refused: ample for a client to
// send its first message, which it does at once.
const refusedStreamDelay = time.Second

// principalStream is a server stream whose context carries the principal.
type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (p *principalStream) Context() context.Context { return p.ctx }

// authedFlight is the Flight service as registered: Handshake, plus the
// permission checks for the RPCs whose Flight SQL dispatch happens inside
// arrow-go; everything else goes straight to the wrapped service.
type authedFlight struct {
	flight.FlightServer
	s *Server
}

// Handshake is the login of Flight clients (pyarrow
// authenticate_basic_token, ADBC username/password, JDBC user/password or
// token): credentials in the "authorization" metadata, Basic (padded or
// unpadded base64 of user:token) or Bearer. On success the token comes
// back as "authorization: Bearer <token>" in both the response headers and
// trailers (clients read one or the other) and as the response payload.
// With auth off any credentials are echoed back the same way, since
// arrow-go's client fails a handshake whose reply has none.
func (a *authedFlight) Handshake(stream flight.FlightService_HandshakeServer) error {
	token, err := auth.TokenFromAuthorization(grpcAuthorization(stream.Context()))
	if !a.s.opts.WithoutAuth {
		if err == nil {
			_, err = a.s.verify(token)
		}
		if err != nil {
			a.s.log.DebugContext(stream.Context(), "refused Flight handshake", "err", err)
			return grpcError(fmt.Errorf(`%w; send the metadata "authorization: Basic base64(USER:TOKEN)" or "authorization: Bearer TOKEN"`, err))
		}
	}
	if token == "" {
		return nil
	}
	md := metadata.Pairs("authorization", "Bearer "+token)
	if err := stream.SendHeader(md); err != nil {
		return err
	}
	stream.SetTrailer(md)
	return stream.Send(&flight.HandshakeResponse{Payload: []byte(token)})
}

// DoAction requires actionPermission on the call's database.
func (a *authedFlight) DoAction(act *flight.Action, stream flight.FlightService_DoActionServer) error {
	ctx := stream.Context()
	if err := auth.Require(ctx, databaseFromContext(ctx), actionPermission(act.GetType())); err != nil {
		return grpcError(err)
	}
	return a.FlightServer.DoAction(act, stream)
}

// actionPermission is what a Flight or Flight SQL action needs. Preparing
// and closing a statement is read (running it is checked when it runs);
// cancelling, renewing and session options change no data. Everything
// else, including actions added later, needs admin.
func actionPermission(typ string) auth.Permission {
	switch typ {
	case flightsql.CreatePreparedStatementActionType, flightsql.ClosePreparedStatementActionType,
		flightsql.CancelQueryActionType, flight.CancelFlightInfoActionType, flight.RenewFlightEndpointActionType,
		flight.SetSessionOptionsActionType, flight.GetSessionOptionsActionType, flight.CloseSessionActionType:
		return auth.PermRead
	}
	return auth.PermAdmin
}

// DoPut checks Flight SQL commands here (see commandPut); path descriptors
// are plain Flight writes, checked by flightService.DoPut once it has
// resolved their database.
func (a *authedFlight) DoPut(stream flight.FlightService_DoPutServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if desc := first.GetFlightDescriptor(); desc.GetType() == flight.DescriptorCMD {
		ctx := stream.Context()
		need, db := commandPut(desc.GetCmd())
		if db == "" {
			db = databaseFromContext(ctx)
		}
		if err := auth.Require(ctx, db, need); err != nil {
			return grpcError(err)
		}
	}
	return a.FlightServer.DoPut(&peekedPut{FlightService_DoPutServer: stream, first: first})
}

// commandPut returns the permission a DoPut of the Flight SQL command cmd
// needs, and the database it names ("" for the call's database header):
// binding parameters of a prepared query is read; bulk ingest is write, to
// the ingest command's schema (Fletch's databases are Flight SQL
// db_schemas) if it names one; updates are at least write (the handler
// asks admin of those that change schema); anything unknown is admin.
func commandPut(cmd []byte) (auth.Permission, string) {
	var msg anypb.Any
	if err := proto.Unmarshal(cmd, &msg); err != nil {
		return auth.PermAdmin, ""
	}
	switch {
	case msg.MessageIs(&pb.CommandPreparedStatementQuery{}):
		return auth.PermRead, ""
	case msg.MessageIs(&pb.CommandStatementIngest{}):
		var ingest pb.CommandStatementIngest
		if err := msg.UnmarshalTo(&ingest); err == nil && ingest.GetSchema() != "" {
			return auth.PermWrite, ingest.GetSchema()
		}
		return auth.PermWrite, ""
	case msg.MessageIs(&pb.CommandStatementUpdate{}), msg.MessageIs(&pb.CommandPreparedStatementUpdate{}):
		return auth.PermWrite, ""
	}
	return auth.PermAdmin, ""
}

// authorize checks that the call may act on database db with permission
// need and returns the context to run its SQL under: scoped to db (see
// query.WithScope) when the token is for one database, so its SQL can't
// reach another.
//
// Its error is a gRPC status; authorizeErr is the same with the plain error.
func authorize(ctx context.Context, db string, need auth.Permission) (context.Context, error) {
	ctx, err := authorizeErr(ctx, db, need)
	return ctx, grpcError(err)
}

func authorizeErr(ctx context.Context, db string, need auth.Permission) (context.Context, error) {
	if err := auth.Require(ctx, db, need); err != nil {
		return nil, err
	}
	if p, _ := auth.FromContext(ctx); p.Database != auth.AllDatabases {
		ctx = query.WithScope(ctx, db)
	}
	return ctx, nil
}

// updatePermission is what a statement needs: read for queries, write for
// statements that change rows only (DELETE), admin for schema changes.
func updatePermission(st *query.Statement) auth.Permission {
	switch {
	case st.Update && st.DataOnly:
		return auth.PermWrite
	case st.Update:
		return auth.PermAdmin
	}
	return auth.PermRead
}
