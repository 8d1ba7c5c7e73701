// Original file: proto/user.proto


export interface CreateUserRequest {
  'name'?: (string);
  'email'?: (string);
  'roles'?: (string)[];
}

export interface CreateUserRequest__Output {
  'name': (string);
  'email': (string);
  'roles': (string)[];
}
