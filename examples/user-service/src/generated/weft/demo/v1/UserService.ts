// Original file: proto/user.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CreateUserRequest as _weft_demo_v1_CreateUserRequest, CreateUserRequest__Output as _weft_demo_v1_CreateUserRequest__Output } from '../../../weft/demo/v1/CreateUserRequest';
import type { DeleteUserRequest as _weft_demo_v1_DeleteUserRequest, DeleteUserRequest__Output as _weft_demo_v1_DeleteUserRequest__Output } from '../../../weft/demo/v1/DeleteUserRequest';
import type { DeleteUserResponse as _weft_demo_v1_DeleteUserResponse, DeleteUserResponse__Output as _weft_demo_v1_DeleteUserResponse__Output } from '../../../weft/demo/v1/DeleteUserResponse';
import type { GetUserRequest as _weft_demo_v1_GetUserRequest, GetUserRequest__Output as _weft_demo_v1_GetUserRequest__Output } from '../../../weft/demo/v1/GetUserRequest';
import type { ImportUsersResponse as _weft_demo_v1_ImportUsersResponse, ImportUsersResponse__Output as _weft_demo_v1_ImportUsersResponse__Output } from '../../../weft/demo/v1/ImportUsersResponse';
import type { ListUsersRequest as _weft_demo_v1_ListUsersRequest, ListUsersRequest__Output as _weft_demo_v1_ListUsersRequest__Output } from '../../../weft/demo/v1/ListUsersRequest';
import type { UpdateUserRequest as _weft_demo_v1_UpdateUserRequest, UpdateUserRequest__Output as _weft_demo_v1_UpdateUserRequest__Output } from '../../../weft/demo/v1/UpdateUserRequest';
import type { User as _weft_demo_v1_User, User__Output as _weft_demo_v1_User__Output } from '../../../weft/demo/v1/User';

export interface UserServiceClient extends grpc.Client {
  CreateUser(argument: _weft_demo_v1_CreateUserRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  CreateUser(argument: _weft_demo_v1_CreateUserRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  CreateUser(argument: _weft_demo_v1_CreateUserRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  CreateUser(argument: _weft_demo_v1_CreateUserRequest, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  createUser(argument: _weft_demo_v1_CreateUserRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  createUser(argument: _weft_demo_v1_CreateUserRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  createUser(argument: _weft_demo_v1_CreateUserRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  createUser(argument: _weft_demo_v1_CreateUserRequest, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  
  DeleteUser(argument: _weft_demo_v1_DeleteUserRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_demo_v1_DeleteUserResponse__Output>): grpc.ClientUnaryCall;
  DeleteUser(argument: _weft_demo_v1_DeleteUserRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_weft_demo_v1_DeleteUserResponse__Output>): grpc.ClientUnaryCall;
  DeleteUser(argument: _weft_demo_v1_DeleteUserRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_demo_v1_DeleteUserResponse__Output>): grpc.ClientUnaryCall;
  DeleteUser(argument: _weft_demo_v1_DeleteUserRequest, callback: grpc.requestCallback<_weft_demo_v1_DeleteUserResponse__Output>): grpc.ClientUnaryCall;
  deleteUser(argument: _weft_demo_v1_DeleteUserRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_demo_v1_DeleteUserResponse__Output>): grpc.ClientUnaryCall;
  deleteUser(argument: _weft_demo_v1_DeleteUserRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_weft_demo_v1_DeleteUserResponse__Output>): grpc.ClientUnaryCall;
  deleteUser(argument: _weft_demo_v1_DeleteUserRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_demo_v1_DeleteUserResponse__Output>): grpc.ClientUnaryCall;
  deleteUser(argument: _weft_demo_v1_DeleteUserRequest, callback: grpc.requestCallback<_weft_demo_v1_DeleteUserResponse__Output>): grpc.ClientUnaryCall;
  
  GetUser(argument: _weft_demo_v1_GetUserRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  GetUser(argument: _weft_demo_v1_GetUserRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  GetUser(argument: _weft_demo_v1_GetUserRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  GetUser(argument: _weft_demo_v1_GetUserRequest, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  getUser(argument: _weft_demo_v1_GetUserRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  getUser(argument: _weft_demo_v1_GetUserRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  getUser(argument: _weft_demo_v1_GetUserRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  getUser(argument: _weft_demo_v1_GetUserRequest, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  
  ImportUsers(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_demo_v1_ImportUsersResponse__Output>): grpc.ClientWritableStream<_weft_demo_v1_CreateUserRequest>;
  ImportUsers(metadata: grpc.Metadata, callback: grpc.requestCallback<_weft_demo_v1_ImportUsersResponse__Output>): grpc.ClientWritableStream<_weft_demo_v1_CreateUserRequest>;
  ImportUsers(options: grpc.CallOptions, callback: grpc.requestCallback<_weft_demo_v1_ImportUsersResponse__Output>): grpc.ClientWritableStream<_weft_demo_v1_CreateUserRequest>;
  ImportUsers(callback: grpc.requestCallback<_weft_demo_v1_ImportUsersResponse__Output>): grpc.ClientWritableStream<_weft_demo_v1_CreateUserRequest>;
  importUsers(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_demo_v1_ImportUsersResponse__Output>): grpc.ClientWritableStream<_weft_demo_v1_CreateUserRequest>;
  importUsers(metadata: grpc.Metadata, callback: grpc.requestCallback<_weft_demo_v1_ImportUsersResponse__Output>): grpc.ClientWritableStream<_weft_demo_v1_CreateUserRequest>;
  importUsers(options: grpc.CallOptions, callback: grpc.requestCallback<_weft_demo_v1_ImportUsersResponse__Output>): grpc.ClientWritableStream<_weft_demo_v1_CreateUserRequest>;
  importUsers(callback: grpc.requestCallback<_weft_demo_v1_ImportUsersResponse__Output>): grpc.ClientWritableStream<_weft_demo_v1_CreateUserRequest>;
  
  ListUsers(argument: _weft_demo_v1_ListUsersRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_weft_demo_v1_User__Output>;
  ListUsers(argument: _weft_demo_v1_ListUsersRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_weft_demo_v1_User__Output>;
  listUsers(argument: _weft_demo_v1_ListUsersRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_weft_demo_v1_User__Output>;
  listUsers(argument: _weft_demo_v1_ListUsersRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_weft_demo_v1_User__Output>;
  
  UpdateUser(argument: _weft_demo_v1_UpdateUserRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  UpdateUser(argument: _weft_demo_v1_UpdateUserRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  UpdateUser(argument: _weft_demo_v1_UpdateUserRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  UpdateUser(argument: _weft_demo_v1_UpdateUserRequest, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  updateUser(argument: _weft_demo_v1_UpdateUserRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  updateUser(argument: _weft_demo_v1_UpdateUserRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  updateUser(argument: _weft_demo_v1_UpdateUserRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  updateUser(argument: _weft_demo_v1_UpdateUserRequest, callback: grpc.requestCallback<_weft_demo_v1_User__Output>): grpc.ClientUnaryCall;
  
}

export interface UserServiceHandlers extends grpc.UntypedServiceImplementation {
  CreateUser: grpc.handleUnaryCall<_weft_demo_v1_CreateUserRequest__Output, _weft_demo_v1_User>;
  
  DeleteUser: grpc.handleUnaryCall<_weft_demo_v1_DeleteUserRequest__Output, _weft_demo_v1_DeleteUserResponse>;
  
  GetUser: grpc.handleUnaryCall<_weft_demo_v1_GetUserRequest__Output, _weft_demo_v1_User>;
  
  ImportUsers: grpc.handleClientStreamingCall<_weft_demo_v1_CreateUserRequest__Output, _weft_demo_v1_ImportUsersResponse>;
  
  ListUsers: grpc.handleServerStreamingCall<_weft_demo_v1_ListUsersRequest__Output, _weft_demo_v1_User>;
  
  UpdateUser: grpc.handleUnaryCall<_weft_demo_v1_UpdateUserRequest__Output, _weft_demo_v1_User>;
  
}

export interface UserServiceDefinition extends grpc.ServiceDefinition {
  CreateUser: MethodDefinition<_weft_demo_v1_CreateUserRequest, _weft_demo_v1_User, _weft_demo_v1_CreateUserRequest__Output, _weft_demo_v1_User__Output>
  DeleteUser: MethodDefinition<_weft_demo_v1_DeleteUserRequest, _weft_demo_v1_DeleteUserResponse, _weft_demo_v1_DeleteUserRequest__Output, _weft_demo_v1_DeleteUserResponse__Output>
  GetUser: MethodDefinition<_weft_demo_v1_GetUserRequest, _weft_demo_v1_User, _weft_demo_v1_GetUserRequest__Output, _weft_demo_v1_User__Output>
  ImportUsers: MethodDefinition<_weft_demo_v1_CreateUserRequest, _weft_demo_v1_ImportUsersResponse, _weft_demo_v1_CreateUserRequest__Output, _weft_demo_v1_ImportUsersResponse__Output>
  ListUsers: MethodDefinition<_weft_demo_v1_ListUsersRequest, _weft_demo_v1_User, _weft_demo_v1_ListUsersRequest__Output, _weft_demo_v1_User__Output>
  UpdateUser: MethodDefinition<_weft_demo_v1_UpdateUserRequest, _weft_demo_v1_User, _weft_demo_v1_UpdateUserRequest__Output, _weft_demo_v1_User__Output>
}
