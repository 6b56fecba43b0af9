SELECT @submission_date AS submission_date
