// Original file: proto/user.proto


export interface DeleteUserRequest {
  'id'?: (string);
}

export interface DeleteUserRequest__Output {
  'id': (string);
}
