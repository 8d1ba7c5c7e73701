// Original file: proto/user.proto


export interface ListUsersRequest {
  'limit'?: (number);
  'role'?: (string);
}

export interface ListUsersRequest__Output {
  'limit': (number);
  'role': (string);
}
