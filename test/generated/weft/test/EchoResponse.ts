// Original file: proto/test.proto


export interface EchoResponse {
  'message'?: (string);
  'index'?: (number);
  'context'?: ({[key: string]: string});
}

export interface EchoResponse__Output {
  'message': (string);
  'index': (number);
  'context': ({[key: string]: string});
}
