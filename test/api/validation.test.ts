/** What a request may be, against the gateway app in-process (app.request) over a real Redis. */
import { describe } from 'node:test';
import { useApiGateway } from '../helpers/api-gateway.ts';
import { validationCases, VALIDATION_LIMITS } from './validation.cases.ts';
import { jobBodyCases } from './job-body.cases.ts';

describe('API validation in-process', { timeout: 60_000 }, () => {
  const g = useApiGateway({ limits: VALIDATION_LIMITS });
  validationCases(g);
  jobBodyCases(g);
});
