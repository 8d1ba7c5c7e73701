import type * as grpc from '@grpc/grpc-js';
import type { CreateUserRequest__Output } from './generated/weft/demo/v1/CreateUserRequest';
import type { UserServiceHandlers } from './generated/weft/demo/v1/UserService';
import { REQUEST_BOUNDS } from './request-bounds';
import type { UserStore } from './user-store';

/** Adapts an async function to a unary handler: a thrown `GrpcError` becomes its status. */
function unary<Req, Res>(fn: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res) {
  return (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) => {
    Promise.resolve()
      .then(() => fn(call.request, call))
      .then(
        (response) => callback(null, response),
        (error: grpc.ServiceError) => callback(error),
      );
  };
}

/** The UserService handlers over a store. Identity and limits come from interceptors, not from here. */
export function userServiceHandlers(store: UserStore): UserServiceHandlers {
  return {
    GetUser: unary((request) => store.get(request.id)),
    CreateUser: unary((request) => store.create(request)),
    UpdateUser: unary((request) => store.update(request.id, request)),
    DeleteUser: unary((request) => {
      store.delete(request.id);
      return { deleted: true };
    }),
    ListUsers(call) {
      try {
        for (const user of store.list(call.request.limit, call.request.role)) {
          if (call.cancelled) return;
          call.write(user);
        }
        call.end();
      } catch (error) {
        call.emit('error', error);
      }
    },
    ImportUsers(call, callback) {
      let created = 0;
      let failed = 0;
      let position = 0;
      // Each message is checked on its own (the store bounds its fields); the summary keeps only
      // the first lines, so a stream of a million bad messages cannot grow it without end.
      const errors: string[] = [];
      call.on('data', (request: CreateUserRequest__Output) => {
        position++;
        try {
          store.create(request);
          created++;
        } catch (error) {
          failed++;
          if (errors.length < REQUEST_BOUNDS.importErrors)
            errors.push(`#${position}: ${(error as grpc.ServiceError).details ?? 'invalid'}`);
        }
      });
      call.on('end', () => callback(null, { created, failed, errors }));
    },
  };
}
