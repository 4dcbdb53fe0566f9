import type { DataRecord } from '@leantune/core';
import { createRng } from '@leantune/data';

/** Symbol → alternatives; `{symbol}` inside an alternative expands recursively. */
export type Grammar = Readonly<Record<string, readonly string[]>>;

/** A small grammar of spam- and ham-like emails; start symbols are the labels. */
export const SPAM_HAM_GRAMMAR: Grammar = {
  spam: ['{subject}\n\n{hello} {pitch} {urgency} {action} {link}\n{unsub}', '{SUBJECT}\n\n{pitch} {pitch} {action} {link}', '{subject}\n\n{hello} {winner} {action} {link} {urgency}'],
  ham: ['{hsubject}\n\n{hi} {update} {ask}\n\n{sign}', 'Re: {hsubject}\n\n{hi} {reply} {update}\n\n{sign}', '{hsubject}\n\n{update} {ask} {thanks}\n\n{sign}'],
  subject: ['Amazing offer inside', 'You have been selected', 'Lowest price on {product}', 'Earn ${money} from home', 'FREE {product} for you'],
  SUBJECT: ['ACT NOW: {product} AT {percent}% OFF', 'MAKE ${money} FAST!!!', 'URGENT: your account needs attention'],
  hello: ['Dear friend,', 'Hello valued customer,', 'Congratulations!', 'Dear Sir/Madam,'],
  pitch: ['Buy {product} at {percent}% off.', 'Our {product} is the cheapest on the internet.', 'Earn ${money} a week working from home.', 'Lose {number} pounds in {number} days.', 'Get a free {product} with every order.'],
  winner: ['You have won ${money}!', 'Your email was selected for a ${money} prize.', 'You are our {number}th winner today!'],
  urgency: ['This offer expires tonight!', 'Act now, only {number} left!', "Don't miss out!!!", 'Limited time only.'],
  action: ['Click here', 'Order now at', 'Claim your prize at', 'Reply with your bank details or visit'],
  link: ['http://www.{domain}.com/offer', 'http://{domain}.biz/?id={number}', 'www.{domain}.net'],
  unsub: ['To be removed from our list, reply REMOVE.', 'This is not spam. You opted in.'],
  product: ['viagra', 'mortgage', 'software', 'watches', 'toner cartridges', 'vitamins', 'a laptop'],
  domain: ['cheap-deals', 'best-offers', 'win-big', 'super-savings', 'freemoney'],
  money: ['1,000', '5,000', '250', '10,000', '99'],
  percent: ['50', '70', '80', '90'],
  number: ['3', '7', '10', '20', '100'],
  hsubject: ['Meeting on {day}', 'Patch for the {project} build', 'Notes from the {project} call', 'Lunch {day}?', 'Question about the {thing}'],
  hi: ['Hi {name},', 'Hello all,', '{name} -', 'Hey {name},'],
  update: ['I pushed the fix for the {thing} to CVS.', 'The {project} tests pass on {os} now.', 'We moved the meeting to {day} at {hour}.', 'I read the draft of the {thing} and left comments.', 'The {thing} is broken again on {os}.'],
  ask: ['Can you take a look before {day}?', 'Does {hour} work for you?', 'Any objections?', 'Could you send me the {thing}?'],
  reply: ['Thanks, that worked.', 'I agree with {name} on this.', "I don't think that is the problem."],
  thanks: ['Thanks.', 'Cheers.', 'Thanks for the help.'],
  sign: ['{name}', '-- {name}', 'Regards,\n{name}'],
  name: ['Justin', 'Matt', 'Dan', 'Theo', 'Sarah', 'Kevin', 'Anne'],
  project: ['SpamAssassin', 'kernel', 'Razor', 'exmh', 'Debian'],
  thing: ['config file', 'patch', 'mailing list archive', 'spec', 'RPM', 'Makefile'],
  os: ['Linux', 'FreeBSD', 'Solaris', 'Red Hat 7.3'],
  day: ['Monday', 'Tuesday', 'Thursday', 'Friday'],
  hour: ['10am', '2pm', '4:30'],
};

const REF = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const MAX_DEPTH = 20;

/** Fails naming any symbol that is referenced but not defined, before anything is generated. */
export function checkGrammar(grammar: Grammar, starts: readonly string[]): void {
  for (const s of starts) if (!grammar[s]?.length) throw new Error(`Grammar has no alternatives for start symbol "${s}"`);
  for (const [symbol, alts] of Object.entries(grammar)) {
    if (!Array.isArray(alts) || alts.length === 0) throw new Error(`Grammar symbol "${symbol}" needs a non-empty list of alternatives`);
    for (const alt of alts) for (const m of alt.matchAll(REF)) if (!grammar[m[1]]) throw new Error(`Grammar symbol "${symbol}" refers to {${m[1]}}, which is not defined`);
  }
}

/** One seeded expansion of `start`. */
export function expand(grammar: Grammar, start: string, rng: () => number, depth = 0): string {
  if (depth > MAX_DEPTH) throw new Error(`Grammar expansion of "${start}" is deeper than ${MAX_DEPTH}; a rule refers to itself without a way out`);
  const alts = grammar[start];
  if (!alts?.length) throw new Error(`Grammar has no symbol "${start}"`);
  const chosen = alts[Math.floor(rng() * alts.length)];
  return chosen.replace(REF, (_m, name: string) => expand(grammar, name, rng, depth + 1));
}

/** `count` texts, labels (= start symbols) dealt round-robin, each tagged meta.synthetic. */
export function generateText(labels: readonly string[], count: number, seed: number, grammar: Grammar = SPAM_HAM_GRAMMAR): DataRecord[] {
  if (!Number.isInteger(count) || count < 0) throw new Error(`generateText: count must be an integer >= 0 (got ${count})`);
  checkGrammar(grammar, labels);
  const rng = createRng(seed);
  return Array.from({ length: count }, (_, row) => {
    const label = labels[row % labels.length];
    return { id: `simulate:text:${seed}:${row}`, text: expand(grammar, label, rng), label, meta: { source: 'simulate:text', row, synthetic: true, seed } };
  });
}
