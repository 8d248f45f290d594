console.log(`post saw ${process.env["STATE_saved"]}`);
