import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { CreateUserRequest as _weft_demo_v1_CreateUserRequest, CreateUserRequest__Output as _weft_demo_v1_CreateUserRequest__Output } from './weft/demo/v1/CreateUserRequest';
import type { DeleteUserRequest as _weft_demo_v1_DeleteUserRequest, DeleteUserRequest__Output as _weft_demo_v1_DeleteUserRequest__Output } from './weft/demo/v1/DeleteUserRequest';
import type { DeleteUserResponse as _weft_demo_v1_DeleteUserResponse, DeleteUserResponse__Output as _weft_demo_v1_DeleteUserResponse__Output } from './weft/demo/v1/DeleteUserResponse';
import type { GetUserRequest as _weft_demo_v1_GetUserRequest, GetUserRequest__Output as _weft_demo_v1_GetUserRequest__Output } from './weft/demo/v1/GetUserRequest';
import type { ImportUsersResponse as _weft_demo_v1_ImportUsersResponse, ImportUsersResponse__Output as _weft_demo_v1_ImportUsersResponse__Output } from './weft/demo/v1/ImportUsersResponse';
import type { ListUsersRequest as _weft_demo_v1_ListUsersRequest, ListUsersRequest__Output as _weft_demo_v1_ListUsersRequest__Output } from './weft/demo/v1/ListUsersRequest';
import type { UpdateUserRequest as _weft_demo_v1_UpdateUserRequest, UpdateUserRequest__Output as _weft_demo_v1_UpdateUserRequest__Output } from './weft/demo/v1/UpdateUserRequest';
import type { User as _weft_demo_v1_User, User__Output as _weft_demo_v1_User__Output } from './weft/demo/v1/User';
import type { UserServiceClient as _weft_demo_v1_UserServiceClient, UserServiceDefinition as _weft_demo_v1_UserServiceDefinition } from './weft/demo/v1/UserService';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  weft: {
    demo: {
      v1: {
        CreateUserRequest: MessageTypeDefinition<_weft_demo_v1_CreateUserRequest, _weft_demo_v1_CreateUserRequest__Output>
        DeleteUserRequest: MessageTypeDefinition<_weft_demo_v1_DeleteUserRequest, _weft_demo_v1_DeleteUserRequest__Output>
        DeleteUserResponse: MessageTypeDefinition<_weft_demo_v1_DeleteUserResponse, _weft_demo_v1_DeleteUserResponse__Output>
        GetUserRequest: MessageTypeDefinition<_weft_demo_v1_GetUserRequest, _weft_demo_v1_GetUserRequest__Output>
        ImportUsersResponse: MessageTypeDefinition<_weft_demo_v1_ImportUsersResponse, _weft_demo_v1_ImportUsersResponse__Output>
        ListUsersRequest: MessageTypeDefinition<_weft_demo_v1_ListUsersRequest, _weft_demo_v1_ListUsersRequest__Output>
        UpdateUserRequest: MessageTypeDefinition<_weft_demo_v1_UpdateUserRequest, _weft_demo_v1_UpdateUserRequest__Output>
        User: MessageTypeDefinition<_weft_demo_v1_User, _weft_demo_v1_User__Output>
        UserService: SubtypeConstructor<typeof grpc.Client, _weft_demo_v1_UserServiceClient> & { service: _weft_demo_v1_UserServiceDefinition }
      }
    }
  }
}

