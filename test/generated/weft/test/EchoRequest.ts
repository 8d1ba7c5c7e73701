// Original file: proto/test.proto


export interface EchoRequest {
  'message'?: (string);
  'count'?: (number);
  'failCode'?: (number);
  'sleepMs'?: (number);
  'failMessage'?: (string);
}

export interface EchoRequest__Output {
  'message': (string);
  'count': (number);
  'failCode': (number);
  'sleepMs': (number);
  'failMessage': (string);
}
