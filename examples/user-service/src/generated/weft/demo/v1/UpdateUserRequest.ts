// Original file: proto/user.proto


export interface UpdateUserRequest {
  'id'?: (string);
  'name'?: (string);
  'email'?: (string);
  'roles'?: (string)[];
}

export interface UpdateUserRequest__Output {
  'id': (string);
  'name': (string);
  'email': (string);
  'roles': (string)[];
}
