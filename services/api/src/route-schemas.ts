import { ErrorBody } from '@harombe/core';

/** The error answers a route may give, for the OpenAPI document (each an ErrorBody). */
export const errorResponses = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  413: ErrorBody,
  429: ErrorBody,
  503: ErrorBody,
};

/** Every /v1 route wants `Authorization: Bearer <key>`. */
export const secured = [{ bearer: [] }];
