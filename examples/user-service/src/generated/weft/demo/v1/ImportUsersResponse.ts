// Original file: proto/user.proto


export interface ImportUsersResponse {
  'created'?: (number);
  'failed'?: (number);
  'errors'?: (string)[];
}

export interface ImportUsersResponse__Output {
  'created': (number);
  'failed': (number);
  'errors': (string)[];
}
