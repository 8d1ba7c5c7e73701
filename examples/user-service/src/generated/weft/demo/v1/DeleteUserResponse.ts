// Original file: proto/user.proto


export interface DeleteUserResponse {
  'deleted'?: (boolean);
}

export interface DeleteUserResponse__Output {
  'deleted': (boolean);
}
