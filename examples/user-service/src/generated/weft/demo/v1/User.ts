// Original file: proto/user.proto


export interface User {
  'id'?: (string);
  'name'?: (string);
  'email'?: (string);
  'roles'?: (string)[];
  'createdAt'?: (string);
  'updatedAt'?: (string);
}

export interface User__Output {
  'id': (string);
  'name': (string);
  'email': (string);
  'roles': (string)[];
  'createdAt': (string);
  'updatedAt': (string);
}
